"""Putting a customer on a plan, and what a membership's next invoice will be."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.customers import get_customer
from billing.errors import BillingError, InvalidAmount
from billing.money import MAX_AMOUNT, MAX_QUANTITY
from billing.recurring.model import Membership
from billing.recurring.periods import Cycle, Period, Timing, next_period, period_containing
from billing.services import get_invoiceable_service

#: A membership starting more than this far back would be invoiced for years at once.
MAX_BACKDATE_DAYS = 366
MAX_NOTE = 500


@dataclass
class MembershipDetails:
    service_id: int
    starts_on: date
    ends_on: date | None = None
    quantity: Decimal = Decimal(1)
    price: Decimal | None = None
    discount_percent: Decimal | None = None
    note: str = ""


def start_membership(
    db: Session, customer_id: int, details: MembershipDetails, *, today: date
) -> Membership:
    """Put the customer on the plan (flushes). Refuses, saving nothing: a one-off or
    archived service, an end before the start, a start more than a year back, a quantity,
    price or discount out of range."""
    customer = get_customer(db, customer_id)
    plan = get_invoiceable_service(db, details.service_id)
    if not plan.is_plan:
        raise BillingError(f"{plan.name} is a one-off service, not a plan.")
    if details.ends_on is not None and details.ends_on < details.starts_on:
        raise BillingError("A membership cannot end before it starts.")
    if (today - details.starts_on).days > MAX_BACKDATE_DAYS:
        raise BillingError("A membership can start at most a year back.")
    if not Decimal(0) < details.quantity <= MAX_QUANTITY:
        raise InvalidAmount("The quantity must be above 0.")
    if details.price is not None and not Decimal(0) <= details.price <= MAX_AMOUNT:
        raise InvalidAmount("The price must be 0 or more.")
    if details.discount_percent is not None and not (
        Decimal(0) <= details.discount_percent <= Decimal(100)
    ):
        raise InvalidAmount("A discount is 0 to 100 percent.")
    if len(details.note) > MAX_NOTE:
        raise BillingError(f"The note can be at most {MAX_NOTE} characters.")
    membership = Membership(
        customer_id=customer.id,
        service_id=plan.id,
        starts_on=details.starts_on,
        ends_on=details.ends_on,
        quantity=details.quantity,
        price=details.price,
        discount_percent=details.discount_percent or None,
        note=details.note.strip(),
    )
    db.add(membership)
    db.flush()
    return membership


def memberships_of(db: Session, customer_id: int) -> list[Membership]:
    return list(
        db.scalars(
            select(Membership)
            .where(Membership.customer_id == customer_id)
            .options(selectinload(Membership.charges))
            .order_by(Membership.starts_on, Membership.id)
        )
    )


@dataclass(frozen=True)
class NextInvoice:
    #: The billing run that will invoice it: the period's start (in advance) or end (arrears).
    on: date
    period: Period


def next_invoice(membership: Membership, billing_day: int = 1) -> NextInvoice | None:
    """The next period of ``membership`` not invoiced yet, and when a run will invoice it;
    None once every period up to its end is invoiced."""
    cycle = Cycle(membership.service.cycle)
    period = period_containing(membership.starts_on, cycle, billing_day)
    if membership.charges:
        last = max(charge.period_start for charge in membership.charges)
        period = next_period(period_containing(last, cycle, billing_day), cycle, billing_day)
    ends_before = membership.ends_before
    if ends_before is not None and period.start >= ends_before:
        return None
    on = period.start if membership.service.timing == Timing.ADVANCE else period.end
    return NextInvoice(on, period)
