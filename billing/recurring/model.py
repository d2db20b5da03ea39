"""Memberships (a customer on a plan) and the periods already invoiced for each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
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
