"""Putting a customer on a plan, ending a membership (with the plan's notice and minimum
term, or an exception with its reason), and what a membership's next invoice will be."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.customers import get_customer
from billing.errors import BillingError, InvalidAmount, NotFound
from billing.money import MAX_AMOUNT, MAX_QUANTITY
from billing.recurring.model import Membership
from billing.recurring.periods import Cycle, Period, Timing, next_period, period_containing
from billing.services import get_invoiceable_service

#: A membership starting more than this far back would be invoiced for years at once.
MAX_BACKDATE_DAYS = 366
#: How far ahead a membership may start, and its last day be set (beyond: a typing mistake,
#: and dates near the calendar's end that no period arithmetic can go past).
MAX_AHEAD_DAYS = 366
MAX_LAST_DAY_YEARS = 50
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
    if (details.starts_on - today).days > MAX_AHEAD_DAYS:
        raise BillingError("A membership can start at most a year ahead.")
    if details.ends_on is not None:
        _check_last_day(details.ends_on, today)
    if not Decimal(0) < details.quantity <= MAX_QUANTITY:
        raise InvalidAmount("The quantity must be above 0.")
    # A membership that invoices nothing could never be issued: every run would fail on it.
    if details.price is not None and not Decimal(0) < details.price <= MAX_AMOUNT:
        raise InvalidAmount("The price must be above 0 (a free membership invoices nothing).")
    if details.discount_percent is not None and not (
        Decimal(0) <= details.discount_percent < Decimal(100)
    ):
        raise InvalidAmount("A discount is 0 to 99.99 percent (100% invoices nothing).")
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


#: An exception to the notice or the minimum term says why, in at least this many characters.
MIN_REASON = 5


class EndTooSoon(BillingError):
    """A last day within the plan's notice or minimum term, without an exception."""


@dataclass(frozen=True)
class EndTerms:
    """When a membership can end: ``earliest`` keeps the plan's notice (from ``today``) and
    minimum term; ``invoiced_to`` is the last day invoiced already (None: nothing yet)."""

    earliest: date
    notice_from: date
    minimum_to: date | None
    invoiced_to: date | None


def _check_last_day(last_day: date, today: date) -> None:
    if last_day.year > today.year + MAX_LAST_DAY_YEARS:
        raise BillingError(
            f"A last day can be at most {MAX_LAST_DAY_YEARS} years ahead; leave it empty for a "
            "membership that runs until ended."
        )


def end_terms(membership: Membership, today: date, billing_day: int = 1) -> EndTerms:
    plan = membership.service
    notice_from = today + timedelta(days=plan.notice_days)
    minimum_to = None
    if plan.minimum_term_periods:
        cycle = Cycle(plan.cycle)
        period = period_containing(membership.starts_on, cycle, billing_day)
        for _ in range(plan.minimum_term_periods - 1):
            period = next_period(period, cycle, billing_day)
        minimum_to = period.last_day
    invoiced_to = max(
        (charge.covered_end - timedelta(days=1) for charge in membership.charges), default=None
    )
    earliest = max(d for d in (notice_from, minimum_to, membership.starts_on) if d is not None)
    return EndTerms(earliest, notice_from, minimum_to, invoiced_to)


def get_membership(
    db: Session, customer_id: int, membership_id: int, *, lock: bool = False
) -> Membership:
    """The customer's membership (NotFound for another customer's), locked if asked: an
    end and a billing run of the customer then go one after the other."""
    query = select(Membership).where(
        Membership.id == membership_id, Membership.customer_id == customer_id
    )
    if lock:
        query = query.with_for_update(of=Membership).execution_options(populate_existing=True)
    membership = db.scalar(query)
    if membership is None:
        raise NotFound("No such membership.")
    return membership


def end_membership(
    db: Session,
    membership: Membership,
    last_day: date,
    *,
    today: date,
    exception_reason: str = "",
    billing_day: int = 1,
) -> EndTerms:
    """End ``membership`` (locked by the caller) on ``last_day``; flushes. Refused: a last
    day before it starts, or before the last day already invoiced (those periods are on an
    invoice), and one within the plan's notice or minimum term unless ``exception_reason``
    says why (it is kept on the membership)."""
    terms = end_terms(membership, today, billing_day)
    _check_last_day(last_day, today)
    if last_day < membership.starts_on:
        raise BillingError(
            f"A membership cannot end before it starts ({membership.starts_on:%d %b %Y})."
        )
    if terms.invoiced_to is not None and last_day < terms.invoiced_to:
        raise BillingError(
            f"It is invoiced up to {terms.invoiced_to:%d %b %Y}: end it on that day or later "
            "(voiding an invoice already issued is not done from here)."
        )
    last = max(membership.charges, key=lambda c: c.period_start, default=None)
    if last is not None and last.covered_end < last.period_end and last_day >= last.covered_end:
        # Its last period was invoiced to the old end only, and the period key is taken: the
        # rest of that period could never be invoiced.
        raise BillingError(
            f"Its last period is invoiced to {terms.invoiced_to:%d %b %Y} only (to its old "
            "end): keep that end, and start a new membership from the day after."
        )
    reason = exception_reason.strip()
    if last_day < terms.earliest:
        if len(reason) < MIN_REASON:
            raise EndTooSoon(
                f"The plan's terms allow {terms.earliest:%d %b %Y} at the earliest"
                f"{_terms_text(membership, terms)}. To end it sooner, give the reason for "
                "the exception."
            )
        if len(reason) > MAX_NOTE:
            raise BillingError(f"The reason can be at most {MAX_NOTE} characters.")
        membership.end_override_reason = reason
    else:
        membership.end_override_reason = ""
    membership.ends_on = last_day
    db.flush()
    return terms


def _terms_text(membership: Membership, terms: EndTerms) -> str:
    parts = []
    if membership.service.notice_days:
        parts.append(f"{membership.service.notice_days} days' notice")
    if terms.minimum_to is not None:
        parts.append(f"a minimum term to {terms.minimum_to:%d %b %Y}")
    return f" ({' and '.join(parts)})" if parts else ""
