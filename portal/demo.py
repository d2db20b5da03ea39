"""Demo data for ``make run``: an admin, two companies with member logins, a service
library and invoices in every state."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers import CustomerDetails, create_customer
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.payments.operations import record_payment
from billing.recurring.charges import ChargeDetails, add_charge
from billing.recurring.memberships import MembershipDetails, start_membership
from billing.recurring.periods import Cycle
from billing.services import ServiceDetails, TaxRate, create_service
from billing.tax import LineAmountType
from billing.users import Role, User, create_user

DEMO_LOGINS = [
    ("admin", "admin@example.com", "demo-admin-password"),
    ("member", "ana@brightdesk.example", "demo-member-password"),
    ("member", "sam@northwind.example", "demo-member-password"),
]

TAX_RATES = [
    ("Standard rate", Decimal("20")),
    ("Reduced rate", Decimal("5")),
    ("Zero rated", Decimal("0")),
    ("Exempt", Decimal("0")),
]


def ensure_tax_rates(db: Session) -> dict[str, TaxRate]:
    existing = {r.name: r for r in db.scalars(select(TaxRate))}
    for name, rate in TAX_RATES:
        if name not in existing:
            existing[name] = TaxRate(name=name, rate_percent=rate)
            db.add(existing[name])
    db.flush()
    return existing


def seed_demo(db: Session, today: date | None = None, prefix: str = "INV-") -> bool:
    """Create the demo data unless any login exists. Returns whether it created anything."""
    if db.scalar(select(User.id).limit(1)) is not None:
        return False
    today = today or date.today()
    rates = ensure_tax_rates(db)
    create_user(
        db, email=DEMO_LOGINS[0][1], name="Alex Admin", password=DEMO_LOGINS[0][2], role=Role.ADMIN
    )

    def service(code, name, price, rate="Standard rate", description="", cycle=None):
        return create_service(
            db,
            ServiceDetails(
                code=code,
                name=name,
                description=description,
                unit_price=Decimal(price),
                currency="GBP",
                sales_account_code="200",
                tax_rate_id=rates[rate].id,
                cycle=cycle,
            ),
        )

    hot_desk = service("DESK-HOT", "Hot desk (day)", "18.50", description="One day, any desk")
    fixed = service("DESK-FIXED", "Fixed desk (month)", "320.00")
    room = service("ROOM-HOUR", "Meeting room (hour)", "24.9500")
    mail = service("MAIL", "Mail handling (month)", "15.00", "Reduced rate", cycle=Cycle.MONTHLY)
    resident = service("DESK-RES", "Resident desk", "280.00", cycle=Cycle.MONTHLY)
    service("COFFEE", "Coffee plan (month)", "12.00", "Zero rated")

    bright = create_customer(
        db,
        CustomerDetails(
            name="Brightdesk Studio Ltd",
            contact_name="Ana Lima",
            email="accounts@brightdesk.example",
            phone="+44 20 7946 0000",
            address="1 Canal Street\nManchester M1 3HE",
            ledger_code="BRIGHT01",
            payment_terms_days=14,
        ),
    )
    north = create_customer(
        db,
        CustomerDetails(
            name="Northwind Apps LLP",
            contact_name="Sam Patel",
            email="finance@northwind.example",
            address="22 Quay Road\nBristol BS1 4QA",
            ledger_code="NORTH01",
            payment_terms_days=30,
        ),
    )
    create_user(
        db,
        email=DEMO_LOGINS[1][1],
        name="Ana Lima",
        password=DEMO_LOGINS[1][2],
        role=Role.MEMBER,
        customer_id=bright.id,
    )
    create_user(
        db,
        email=DEMO_LOGINS[2][1],
        name="Sam Patel",
        password=DEMO_LOGINS[2][2],
        role=Role.MEMBER,
        customer_id=north.id,
    )

    def invoice(customer, days_ago, lines, issue=True, reference=""):
        draft = create_draft(
            db,
            DraftDetails(
                customer_id=customer.id,
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=today - timedelta(days=days_ago),
                reference=reference,
                lines=[
                    DraftLine(s.id, s.description or s.name, Decimal(q), s.unit_price)
                    for s, q in lines
                ],
            ),
        )
        if issue:
            issue_invoice(db, draft, prefix=prefix, today=today)
        return draft

    paid = invoice(bright, 45, [(fixed, "1"), (room, "3")], reference="October")
    record_payment(
        db,
        paid,
        amount=paid.total,
        paid_on=today - timedelta(days=35),
        method="manual",
        reference="BACS 88812",
    )
    invoice(bright, 20, [(fixed, "1"), (hot_desk, "4")], reference="November")
    invoice(bright, 2, [(room, "2.5")], reference="Workshop")
    invoice(north, 40, [(hot_desk, "12")], reference="October desks")
    partly = invoice(north, 10, [(fixed, "2")], reference="November desks")
    record_payment(
        db,
        partly,
        amount=Decimal("300.00"),
        paid_on=today - timedelta(days=3),
        method="manual",
        reference="BACS 99120",
    )
    invoice(north, 0, [(room, "1")], issue=False, reference="Draft for December")
    # Memberships for the billing run (`flask billing run --date ... --dry-run` shows them).
    start_membership(
        db,
        bright.id,
        MembershipDetails(resident.id, starts_on=today, quantity=Decimal(2), note="Desks 4 and 5"),
        today=today,
    )
    start_membership(
        db, north.id, MembershipDetails(mail.id, starts_on=today - timedelta(days=20)), today=today
    )
    # Meeting-room hours used this month: on Brightdesk's next invoice from the run.
    add_charge(
        db,
        bright.id,
        ChargeDetails(
            room.id,
            charged_on=today - timedelta(days=1),
            quantity=Decimal(2),
            description="Meeting room (hour), board meeting",
        ),
        today=today,
    )
    return True
