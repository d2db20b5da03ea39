"""Pending charges: one-off charges that go on a customer's next invoice from the billing
run (with its memberships' lines, once, dated by when they were used), what is refused when
one is added, removal while pending only, and a CSV import that loads every row or none."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.errors import BillingError, InvalidAmount
from billing.invoices.model import Invoice
from billing.recurring.charges import (
    ChargeDetails,
    ChargeNotPending,
    add_charge,
    import_charges,
    pending_charges_of,
    remove_charge,
)
from billing.recurring.model import Membership, PendingCharge
from billing.recurring.periods import Cycle
from billing.recurring.run import bill_customer, customers_due, preview
from billing.recurring.runner import BillingRunner, start_run
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory

DECEMBER_1 = date(2026, 12, 1)
TODAY = date(2026, 11, 20)


@pytest.fixture
def vat(db):
    return TaxRateFactory(name="VAT 20% (charges)", rate_percent=Decimal("20"))


@pytest.fixture
def room(vat):
    return ServiceFactory(
        code="ROOM-H", name="Meeting room hour", unit_price=Decimal("25.00"), tax_rate=vat
    )


def charge(db, customer, service, day, **details) -> PendingCharge:
    added = add_charge(
        db,
        customer.id,
        ChargeDetails(service_id=service.id, charged_on=day, **details),
        today=TODAY,
    )
    db.commit()  # releases the SAVEPOINT only
    return added


def test_charges_go_on_the_next_invoice_with_the_memberships_once(db, vat, room):
    desk = ServiceFactory(
        name="Resident desk", cycle=Cycle.MONTHLY, unit_price=Decimal("300"), tax_rate=vat
    )
    customer = CustomerFactory(name="Charges & Co")
    db.add(Membership(customer=customer, service=desk, starts_on=DECEMBER_1))
    db.commit()
    used = charge(db, customer, room, date(2026, 11, 14), quantity=Decimal(3))
    printing = charge(
        db,
        customer,
        room,
        date(2026, 11, 28),
        unit_price=Decimal("0.1250"),
        quantity=Decimal(120),
        description="Printing, colour",
    )
    later = charge(db, customer, room, date(2026, 12, 5))  # waits for a run on or after it

    [invoice] = bill_customer(db, customer.id, DECEMBER_1, prefix="CHG-")

    lines = [(x.description, x.quantity, x.unit_price, x.line_amount) for x in invoice.lines]
    assert lines == [
        ("Resident desk, 1 Dec 2026 to 31 Dec 2026", Decimal(1), Decimal(300), Decimal("300.00")),
        ("Meeting room hour, 14 Nov 2026", Decimal(3), Decimal(25), Decimal("75.00")),
        ("Printing, colour, 28 Nov 2026", Decimal(120), Decimal("0.125"), Decimal("15.00")),
    ]
    assert invoice.total == Decimal("468.00")  # (300 + 75 + 15) plus 20%
    db.refresh(used)
    db.refresh(printing)
    assert (used.invoice_id, used.line_position) == (invoice.id, 2)
    assert (printing.invoice_id, printing.line_position) == (invoice.id, 3)
    assert pending_charges_of(db, customer.id) == [later]
    # Charged once: a second run on the same date has nothing for the customer.
    assert bill_customer(db, customer.id, DECEMBER_1, prefix="CHG-") == []
    [next_one] = bill_customer(db, customer.id, date(2026, 12, 5), prefix="CHG-")
    assert [line.description for line in next_one.lines] == ["Meeting room hour, 5 Dec 2026"]


def test_a_customer_with_charges_only_is_billed_and_each_currency_has_its_invoice(db, vat, room):
    dollars = ServiceFactory(name="Locker (USD)", currency="USD", unit_price=Decimal("40"))
    customer = CustomerFactory()
    charge(db, customer, room, date(2026, 11, 2))
    charge(db, customer, dollars, date(2026, 11, 3))

    shown = preview(db, DECEMBER_1)
    assert [(b.customer.id, b.currency) for b in shown.bills] == [
        (customer.id, "GBP"),
        (customer.id, "USD"),
    ]
    assert customers_due(db, DECEMBER_1) == [customer.id]
    assert db.scalar(select(func.count()).select_from(Invoice)) == 0  # the preview saved nothing

    run = start_run(db, DECEMBER_1, now=datetime(2026, 12, 1, 9, tzinfo=UTC))
    db.commit()
    BillingRunner(
        lambda: db, prefix="CHG-", clock=lambda: datetime(2026, 12, 1, 9, tzinfo=UTC)
    ).drain()
    db.refresh(run)
    assert (run.done, run.invoices) == (1, 2)
    assert sorted(
        db.scalars(select(Invoice.currency).where(Invoice.customer_id == customer.id))
    ) == ["GBP", "USD"]


def test_a_run_visits_customers_in_id_order_whatever_they_are_billed_for(db, vat, room):
    desk = ServiceFactory(cycle=Cycle.MONTHLY, tax_rate=vat)
    first, second, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    charge(db, first, room, date(2026, 11, 2))  # charges only, lowest id
    db.add(Membership(customer=second, service=desk, starts_on=DECEMBER_1))
    db.add(Membership(customer=third, service=desk, starts_on=DECEMBER_1))
    db.commit()
    charge(db, third, room, date(2026, 11, 2))
    # The run's cursor moves along this list: it must be in id order.
    assert customers_due(db, DECEMBER_1) == [first.id, second.id, third.id]
    assert customers_due(db, DECEMBER_1, after=first.id) == [second.id, third.id]


@pytest.mark.parametrize(
    ("details", "error", "message"),
    [
        ({"quantity": Decimal(0)}, InvalidAmount, "quantity must be above 0"),
        ({"quantity": Decimal(-2)}, InvalidAmount, "quantity must be above 0"),
        ({"quantity": Decimal("1000001")}, InvalidAmount, "at most 1,000,000"),
        ({"quantity": Decimal("1.00001")}, InvalidAmount, "at most 4 decimal places"),
        ({"unit_price": Decimal("-0.01")}, InvalidAmount, "unit price must be above 0"),
        ({"unit_price": Decimal("0")}, InvalidAmount, "unit price must be above 0"),
        ({"unit_price": Decimal("1.23456")}, InvalidAmount, "at most 4 decimal places"),
        ({"unit_price": Decimal("1e12")}, InvalidAmount, "at most 1,000,000,000"),
        ({"charged_on": date(2028, 1, 1)}, BillingError, "at most a year from today"),
        ({"charged_on": date(2025, 1, 1)}, BillingError, "at most a year from today"),
        ({"description": "x" * 501}, BillingError, "at most 500 characters"),
    ],
)
def test_what_a_charge_refuses(db, room, details, error, message):
    customer = CustomerFactory()
    fields = {"service_id": room.id, "charged_on": TODAY, **details}
    with pytest.raises(error, match=message):
        add_charge(db, customer.id, ChargeDetails(**fields), today=TODAY)
    assert db.scalar(select(func.count()).select_from(PendingCharge)) == 0


def test_a_plan_or_an_archived_service_is_not_a_charge(db, vat):
    customer = CustomerFactory()
    plan = ServiceFactory(name="Desk plan", cycle=Cycle.MONTHLY, tax_rate=vat)
    archived = ServiceFactory(name="Old locker", active=False, tax_rate=vat)
    with pytest.raises(BillingError, match="Desk plan is a plan: put the customer on it"):
        add_charge(db, customer.id, ChargeDetails(plan.id, TODAY), today=TODAY)
    with pytest.raises(BillingError, match="archived"):
        add_charge(db, customer.id, ChargeDetails(archived.id, TODAY), today=TODAY)


def test_a_charge_is_removed_while_pending_and_not_once_invoiced(db, room):
    customer, other = CustomerFactory(), CustomerFactory()
    kept = charge(db, customer, room, date(2026, 11, 2))
    dropped = charge(db, customer, room, date(2026, 11, 3))
    with pytest.raises(ChargeNotPending):
        remove_charge(db, other.id, dropped.id)  # not another customer's
    remove_charge(db, customer.id, dropped.id)
    [invoice] = bill_customer(db, customer.id, DECEMBER_1, prefix="CHG-")
    assert len(invoice.lines) == 1
    with pytest.raises(ChargeNotPending, match="on an invoice already"):
        remove_charge(db, customer.id, kept.id)
    assert db.get(PendingCharge, kept.id).invoice_id == invoice.id


CSV = """customer,service,quantity,date,description,unit_price
ACME,room-h,2,2026-11-14,Board meeting,
billing@zed.example,ROOM-H,1.5,2026-11-15,,20
"""


def test_an_import_loads_every_row(db, room):
    acme = CustomerFactory(ledger_code="ACME")
    zed = CustomerFactory(email="Billing@Zed.example")
    report = import_charges(db, "\ufeff" + CSV + "\n\n", today=TODAY)
    assert report.errors == []
    assert [(c.customer_id, c.quantity, c.unit_price, c.description) for c in report.added] == [
        (acme.id, Decimal(2), None, "Board meeting"),
        (zed.id, Decimal("1.5"), Decimal(20), ""),
    ]


def test_an_import_with_a_bad_row_loads_none_and_names_each(db, room):
    CustomerFactory(ledger_code="ACME")
    CustomerFactory(email="twice@example.com")
    CustomerFactory(email="twice@example.com")
    text = (
        "Customer,Service,Quantity,Date\n"
        "ACME,ROOM-H,2,2026-11-14\n"  # good, but not loaded alone
        "NOBODY,ROOM-H,1,2026-11-14\n"
        "ACME,NOPE,1,2026-11-14\n"
        "ACME,ROOM-H,-1,2026-11-14\n"
        "ACME,ROOM-H,1.23456,2026-11-14\n"
        "ACME,ROOM-H,lots,2026-11-14\n"
        "ACME,ROOM-H,NaN,2026-11-14\n"
        "ACME,ROOM-H,1,14/11/2026\n"
        "ACME,ROOM-H,1,2030-01-01\n"
        "twice@example.com,ROOM-H,1,2026-11-14\n"
        "ACME,,1,2026-11-14\n"
        "ACME,ROOM-H,1,2026-11-14,extra\n"
    )
    report = import_charges(db, text, today=TODAY)
    assert report.added == []
    assert db.scalar(select(func.count()).select_from(PendingCharge)) == 0  # not even row 2
    assert [row for row, _ in report.errors] == list(range(3, 14))
    messages = dict(report.errors)
    assert "no customer has the ledger code or e-mail 'NOBODY'" in messages[3]
    assert "no service has the code 'NOPE'" in messages[4]
    assert "quantity must be above 0" in messages[5]
    assert "at most 4 decimal places" in messages[6]
    assert "quantity 'lots' is not a number" in messages[7]
    assert "quantity 'NaN' is not a number" in messages[8]
    assert "is not like 2026-12-01" in messages[9]
    assert "at most a year from today" in messages[10]
    assert "more than one customer has the e-mail" in messages[11]
    assert "service is empty" in messages[12]
    assert "more values than columns" in messages[13]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer,service,date\nACME,ROOM-H,2026-11-14\n", "missing column(s) quantity"),
        ("customer,service,quantity,date,colour\n", "unknown column(s) colour"),
        ("", "missing column(s) customer, service, quantity, date"),
        ("customer,service,quantity,date\nAC\x00ME,ROOM-H,1,2026-11-14\n", "NUL character"),
        ("customer,service,quantity,date,quantity\n", "column(s) given twice: quantity"),
        ("customer,service,quantity,date,\n", "unknown column(s) (no name)"),
        ("customer,service,quantity,date\n", "the file has no charges, only its header"),
    ],
)
def test_an_import_that_is_not_a_charges_file(db, room, text, message):
    report = import_charges(db, text, today=TODAY)
    assert report.added == [] and [row for row, _ in report.errors] == [1]
    assert message in report.errors[0][1]


def test_an_import_names_the_line_of_the_file_and_reads_no_further_than_csv_allows(db, room):
    CustomerFactory(ledger_code="ACME")
    text = "customer,service,quantity,date\n\n\nACME,ROOM-H,-1,2026-11-14\n"
    report = import_charges(db, text, today=TODAY)
    assert report.errors == [(4, "The quantity must be above 0 and at most 1,000,000.")]
    # An unclosed quote swallowing a huge rest of the file: named, not a traceback.
    huge = 'customer,service,quantity,date\nACME,"' + "x" * 200_000 + "\n"
    [(line, message)] = import_charges(db, huge, today=TODAY).errors
    assert line == 2 and message.startswith("not readable as CSV: field larger than")


def test_the_same_file_twice_is_refused(db, room):
    CustomerFactory(ledger_code="ACME")
    first = import_charges(
        db, CSV.split("\n", 2)[0] + "\nACME,ROOM-H,2,2026-11-14,,\n", today=TODAY
    )
    assert len(first.added) == 1 and first.errors == []
    again = import_charges(
        db, CSV.split("\n", 2)[0] + "\nACME,ROOM-H,2,2026-11-14,,\n", today=TODAY
    )
    assert again.added == []
    [(line, message)] = again.errors
    assert line == 1 and "this file was loaded already" in message and "(1 charges)" in message
    assert db.scalar(select(func.count()).select_from(PendingCharge)) == 1


def test_more_lines_than_an_invoice_holds_go_on_several(db, room):
    customer = CustomerFactory()
    for n in range(101):
        add_charge(db, customer.id, ChargeDetails(room.id, date(2026, 11, 1 + n % 28)), today=TODAY)
    db.commit()
    assert preview(db, DECEMBER_1).invoice_count() == 2
    first, second = bill_customer(db, customer.id, DECEMBER_1, prefix="CHG-")
    assert (len(first.lines), len(second.lines)) == (100, 1)
    assert pending_charges_of(db, customer.id) == []
    positions = db.execute(
        select(PendingCharge.invoice_id, PendingCharge.line_position).where(
            PendingCharge.customer_id == customer.id
        )
    ).all()
    assert sorted(positions) == sorted([(first.id, p) for p in range(1, 101)] + [(second.id, 1)])
