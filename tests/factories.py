"""factory_boy factories for test data. ``bind(session)`` points them at the test's session."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from billing.customers import Customer
from billing.events import EventBus
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.services import Service, ServiceDetails, TaxRate, add_tax_rate, create_service
from billing.tax import LineAmountType
from billing.users import Role, User

PASSWORD = "correct horse battery"
# Hashing with argon2's defaults costs ~50 ms; hash the shared test password once.
_PASSWORD_HASH: str | None = None


def _password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        user = User()
        user.set_password(PASSWORD)
        _PASSWORD_HASH = user.password_hash
    return _PASSWORD_HASH


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        # "commit" only releases the test transaction's SAVEPOINT: a later request that rolls
        # back (any answer >= 400) then keeps the test's data.
        sqlalchemy_session_persistence = "commit"


class TaxRateFactory(Base):
    class Meta:
        model = TaxRate

    name = factory.Sequence(lambda n: f"VAT {n}")
    rate_percent = Decimal("20")


class ServiceFactory(Base):
    class Meta:
        model = Service

    code = factory.Sequence(lambda n: f"SVC-{n}")
    name = factory.Sequence(lambda n: f"Service {n}")
    description = ""
    unit_price = Decimal("100.00")
    currency = "GBP"
    sales_account_code = "200"
    tax_rate = factory.SubFactory(TaxRateFactory)


class ServiceDetailsFactory(factory.Factory):
    """What an admin enters for the usual service: GBP, posted to sales account 200. Give it
    ``tax_rate_id``; ``add_service`` does, with the standard rate."""

    class Meta:
        model = ServiceDetails

    code = factory.Sequence(lambda n: f"DESK-{n}")
    name = "Desk"
    unit_price = Decimal("10.00")
    currency = "GBP"
    sales_account_code = "200"


def standard_rate(db, name: str = "Standard") -> TaxRate:
    """The standard (20 %) tax rate called ``name``, added when the database has none yet."""
    found = db.scalar(select(TaxRate).where(TaxRate.name == name))
    return found or add_tax_rate(db, name, Decimal("20"))


def add_service(db, *, rate: TaxRate | None = None, **details) -> Service:
    """A service created as an admin creates one (billing.services.create_service), in any
    session: ServiceDetailsFactory's details at ``rate`` (or ``tax_rate_id``), the standard
    rate by default."""
    if "tax_rate_id" not in details:
        details["tax_rate_id"] = (rate or standard_rate(db)).id
    return create_service(db, ServiceDetailsFactory(**details))


class CustomerFactory(Base):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Company {n} Ltd")
    email = factory.Sequence(lambda n: f"accounts{n}@company.example")
    payment_terms_days = 14


class UserFactory(Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password_hash = factory.LazyFunction(_password_hash)


class AdminFactory(UserFactory):
    role = Role.ADMIN


class MemberFactory(UserFactory):
    role = Role.MEMBER
    customer = factory.SubFactory(CustomerFactory)


def bind(session) -> None:
    for f in (
        TaxRateFactory,
        ServiceFactory,
        CustomerFactory,
        UserFactory,
        AdminFactory,
        MemberFactory,
    ):
        f._meta.sqlalchemy_session = session


def make_invoice(
    db,
    customer: Customer,
    lines: list[tuple[Service, str]] | None = None,
    *,
    issue: bool = True,
    issue_date: date | None = None,
    due_in_days: int | None = None,
    amounts: LineAmountType = LineAmountType.EXCLUSIVE,
    currency: str = "GBP",
):
    """An invoice through the real operations, issued unless ``issue=False``."""
    if lines is None:
        lines = [(ServiceFactory(currency=currency), "1")]
    issue_date = issue_date or date.today()
    draft = create_draft(
        db,
        DraftDetails(
            customer_id=customer.id,
            currency=currency,
            line_amount_type=amounts,
            issue_date=issue_date,
            due_date=issue_date + timedelta(days=due_in_days) if due_in_days is not None else None,
            lines=[DraftLine(s.id, s.name, Decimal(q), s.unit_price) for s, q in lines],
        ),
    )
    if issue:
        issue_invoice(db, draft, prefix="INV-", today=issue_date)
    db.commit()  # releases the SAVEPOINT only; see Base.Meta
    return draft


def domain_session(engine: Engine, **options: Any) -> Session:
    """A session of the domain alone, as a test of billing uses it outside any application:
    its events go to a bus with no subscribers (billing refuses a session without one)."""
    return Session(engine, info=EventBus().session_info(), **options)
