"""Memberships (a customer on a plan) and the periods already invoiced for each."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, UnitPrice, UTCDateTime, utcnow


class Membership(Base):
    """A customer on a plan from ``starts_on`` to ``ends_on`` (its last day, inclusive;
    None: until ended), ``quantity`` of it at the plan's price or ``price`` instead, less
    ``discount_percent``."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_not_negative"),
        CheckConstraint(
            "discount_percent IS NULL OR (discount_percent >= 0 AND discount_percent <= 100)",
            name="discount_percent",
        ),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        Index("ix_memberships_customer", "customer_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    #: The membership's last day; None: it runs until someone ends it.
    ends_on: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4, asdecimal=True), default=Decimal(1))
    #: Instead of the plan's unit price (None: the plan's price on each invoice).
    price: Mapped[Decimal | None] = mapped_column(UnitPrice())
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2, asdecimal=True))
    #: Shown on each invoice line of the membership.
    note: Mapped[str] = mapped_column(Text, default="")
    #: Why an end was allowed inside the minimum term or notice period (audited).
    end_override_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer = relationship("Customer", lazy="joined")
    service = relationship("Service", lazy="joined")
    charges: Mapped[list[MembershipCharge]] = relationship(
        back_populates="membership", order_by="MembershipCharge.period_start"
    )

    @property
    def ends_before(self) -> date | None:
        """The day after the last (periods are half-open)."""
        return None if self.ends_on is None else self.ends_on + timedelta(days=1)


class MembershipCharge(Base):
    """One period of a membership, on the invoice that charged it. The unique key is the
    billing run's idempotency: a second run, a run resumed after a crash or two workers at
    once can never invoice a membership's period twice."""

    __tablename__ = "membership_charges"
    __table_args__ = (
        UniqueConstraint("membership_id", "period_start", name="membership_period"),
        CheckConstraint("period_end > period_start", name="period_forward"),
        CheckConstraint(
            "covered_start >= period_start AND covered_end <= period_end "
            "AND covered_end > covered_start",
            name="covered_within_period",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    #: The days charged (the whole period unless prorated), ``[covered_start, covered_end)``.
    covered_start: Mapped[date] = mapped_column(Date)
    covered_end: Mapped[date] = mapped_column(Date)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: The invoice line (position) that charged it.
    line_position: Mapped[int]
    #: What it was charged as: the billing run of this date.
    billing_date: Mapped[date] = mapped_column(Date)

    membership: Mapped[Membership] = relationship(back_populates="charges")
    invoice = relationship("Invoice")


class BillingRunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


_RUN_STATUS_SQL = ", ".join(f"'{s.value}'" for s in BillingRunStatus)


class BillingRun(Base):
    """One billing run for a billing date, carried out in the background a chunk of
    customers at a time (``billing.recurring.runner``); its progress is kept with each
    customer's invoices, so it survives a restart of the worker and can be read later."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_RUN_STATUS_SQL})", name="status_known"),
        CheckConstraint(
            "total >= 0 AND done >= 0 AND invoices >= 0 AND failed >= 0",
            name="counts_not_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    billing_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=BillingRunStatus.QUEUED)
    #: True while queued or running, NULL after: unique, so at most one run is under way
    #: (NULLs never clash), whatever two admins, the command line and the worker start.
    active: Mapped[bool | None] = mapped_column(unique=True, default=True)
    #: The day of the worker's daily run (NULL: started by someone): one a day.
    scheduled_for: Mapped[date | None] = mapped_column(Date, unique=True)
    #: Who started it from the page (NULL: the command line or the schedule).
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Customers with something due when it was queued, and customers done so far.
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    invoices: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: The last customer id done: the next chunk begins after it.
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    #: Held by a worker for a chunk until then: nobody else takes the run before.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The holder's own mark: a worker records progress only while the run still carries it
    #: (one whose lease ran out, the run taken over by another, writes nothing).
    lease_token: Mapped[str | None] = mapped_column(String(32))

    started_by = relationship("User")

    @property
    def finished(self) -> bool:
        return self.status == BillingRunStatus.DONE


class BillingRunFailure(Base):
    """A customer a run could not bill, and why (nothing of it was kept)."""

    __tablename__ = "billing_run_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(Text)

    customer = relationship("Customer")


class PendingCharge(Base):
    """A one-off charge for a customer (meeting-room hours, printing) waiting for its next
    invoice from the billing run, as of ``charged_on``; ``invoice_id`` once it is on one
    (set with the invoice, under the customer's lock: a charge is never invoiced twice)."""

    __tablename__ = "pending_charges"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price IS NULL OR unit_price >= 0", name="price_not_negative"),
        Index("ix_pending_charges_customer", "customer_id", "invoice_id", "charged_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    #: The day of what is charged: it goes on the first invoice of a run on or after it.
    charged_on: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4, asdecimal=True), default=Decimal(1))
    #: None: the service's unit price when it is invoiced.
    unit_price: Mapped[Decimal | None] = mapped_column(UnitPrice())
    #: The invoice line's text (empty: the service's name).
    description: Mapped[str] = mapped_column(Text, default="")
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    line_position: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer = relationship("Customer", lazy="joined")
    service = relationship("Service", lazy="joined")
    invoice = relationship("Invoice")


class ChargeImport(Base):
    """A file of pending charges loaded (its SHA-256): the same file twice is refused, so
    re-running an import whose output was lost charges nobody twice."""

    __tablename__ = "charge_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    charges: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
