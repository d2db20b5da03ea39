"""Customers: the companies invoices are issued to, each with one or more member logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, String, Text, case, func, or_, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from billing import events
from billing.db import Base, UTCDateTime, trigram_indexes, utcnow
from billing.errors import BillingError, NotFound


class LedgerCodeTaken(BillingError):
    """Another customer already has this ledger code."""


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="terms_in_range"),
        Index("uq_customers_ledger_code", "ledger_code", unique=True),
        # The test customers that the dashboard and reports leave out, found without a scan.
        # Partial, so that it serves only ``is_test = true`` (billing.statements): a plain
        # index on is_test made SQLite start the admin list from the customers, sorting
        # every invoice instead of reading the newest through ix_invoices_created.
        Index(
            "ix_customers_test",
            "id",
            sqlite_where=text("is_test = 1"),
            postgresql_where=text("is_test"),
        ),
        *trigram_indexes("customers", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    contact_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    #: The customer's account code; becomes the Xero contact's ContactNumber. Unique when set.
    ledger_code: Mapped[str | None] = mapped_column(String(50))
    #: Xero's ContactID once the customer is linked to a Xero contact.
    xero_contact_id: Mapped[str | None] = mapped_column(String(36))
    #: Days from the issue date to the due date.
    payment_terms_days: Mapped[int] = mapped_column(default=14)
    #: A clearly marked customer that admins use to try the payment chain end to end.
    is_test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members = relationship("User", back_populates="customer", order_by="User.name")
    invoices = relationship("Invoice", back_populates="customer", lazy="raise")


@dataclass
class CustomerDetails:
    name: str
    contact_name: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    ledger_code: str | None = None
    payment_terms_days: int = 14


def _check_ledger_code_free(db: Session, code: str | None, customer_id: int | None) -> None:
    if not code:
        return
    clash = db.scalar(select(Customer.id).where(Customer.ledger_code == code))
    if clash is not None and clash != customer_id:
        raise LedgerCodeTaken(f"Ledger code {code} is already used by another customer.")


def create_customer(db: Session, details: CustomerDetails) -> Customer:
    _check_ledger_code_free(db, details.ledger_code or None, None)
    customer = Customer(**{**details.__dict__, "ledger_code": details.ledger_code or None})
    db.add(customer)
    db.flush()
    return customer


def update_customer(db: Session, customer: Customer, details: CustomerDetails) -> Customer:
    _check_ledger_code_free(db, details.ledger_code or None, customer.id)
    for key, value in details.__dict__.items():
        setattr(customer, key, value)
    customer.ledger_code = details.ledger_code or None
    db.flush()
    events.publish(db, events.CUSTOMER_UPDATED, customer=customer)
    return customer


def get_customer(db: Session, customer_id: int) -> Customer:
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def amounts_owed(db: Session, customer_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """What each customer owes on awaiting-payment invoices, per currency, in one query."""
    from billing.invoices.model import Invoice, InvoiceStatus

    rows = db.execute(
        select(Invoice.customer_id, Invoice.currency, func.sum(Invoice.total - Invoice.amount_paid))
        .where(Invoice.customer_id.in_(customer_ids))
        .where(Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
        .group_by(Invoice.customer_id, Invoice.currency)
    )
    owed: dict[int, dict[str, Decimal]] = {}
    for customer_id, currency, amount in rows:
        owed.setdefault(customer_id, {})[currency] = Decimal(amount)
    return owed


#: The most customers one typeahead answer lists: enough to pick from, small to send.
SEARCH_LIMIT = 20
#: Longer than any name (255) or e-mail (254) a customer can have: it can match nothing.
SEARCH_MAX_LENGTH = 255


def customer_match(text: str) -> ColumnElement[bool]:
    """The WHERE clause of a customer search box: ``text`` found anywhere in the name,
    e-mail or ledger code (the account number), whatever its case. What was typed is
    matched literally (autoescape), never as a LIKE wildcard or escape character."""
    text = text.strip()
    return or_(
        *(
            column.icontains(text, autoescape=True)
            for column in (Customer.name, Customer.email, Customer.ledger_code)
        )
    )


def search_customers(db: Session, text: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """At most ``limit`` customers matching ``text`` (``customer_match``) for a picker:
    names that start with it first, then by name. Blank or over-long text finds nobody."""
    text = text.strip()
    if not text or len(text) > SEARCH_MAX_LENGTH:
        return []
    starts = case((func.lower(Customer.name).startswith(text.lower(), autoescape=True), 0), else_=1)
    stmt = (
        select(Customer)
        .where(customer_match(text))
        .order_by(starts, Customer.name, Customer.id)
        .limit(limit)
    )
    return list(db.scalars(stmt))


class CustomerNotChosen(BillingError):
    """What a customer picker's text names is not one customer."""


def customer_named(db: Session, text: str) -> Customer:
    """The one customer whose ledger code, or else whose name, is exactly ``text`` (case
    aside): how a picker typed into without scripts is resolved. Looks at two rows at most."""
    text = text.strip()
    if not text or len(text) > SEARCH_MAX_LENGTH:
        raise CustomerNotChosen("Choose a customer: type part of a name and pick it from the list.")
    for column in (Customer.ledger_code, Customer.name):
        found = list(
            db.scalars(select(Customer).where(func.lower(column) == text.lower()).limit(2))
        )
        if len(found) == 1:
            return found[0]
        if found:
            raise CustomerNotChosen(
                f"More than one customer is called {text}: type their ledger code instead, "
                "or pick one from the list."
            )  # two names (or ledger codes) that differ only in case
    raise CustomerNotChosen(
        f"No customer is called {text}: type part of the name, e-mail or ledger code and "
        "pick one from the list."
    )
