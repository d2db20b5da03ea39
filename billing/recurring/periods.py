"""Billing periods and proration: pure date and Decimal arithmetic, no database.

Periods are aligned for everyone on a plan's cycle, as a coworking space bills them: a
monthly plan's periods run from the billing day of one month to the billing day of the next
(the 1st by default), quarterly from January, April, July and October, yearly from January,
weekly from Monday. A membership that starts or ends inside a period is charged for the days
it covers, when the plan prorates (``Proration.BY_DAY``), or for the whole period when it
does not. Every period is half-open, ``[start, end)``: the end is the next period's start, so
periods never overlap and never leave a gap.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

#: Billing days after the 28th would not exist in February.
MAX_BILLING_DAY = 28
UNIT_PRICE_PLACES = Decimal("0.0001")


class Cycle(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def period_name(self) -> str:
        return {"weekly": "week", "monthly": "month", "quarterly": "quarter"}.get(self, "year")

    @property
    def months(self) -> int:
        return {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.YEARLY: 12}.get(self, 0)


class Timing(enum.StrEnum):
    #: A period is invoiced on its first day (or the first run after it).
    ADVANCE = "advance"
    #: A period is invoiced once it is over.
    ARREARS = "arrears"


class Proration(enum.StrEnum):
    #: The whole period is charged, however few of its days the membership covers.
    NONE = "none"
    #: The days covered, out of the period's days.
    BY_DAY = "by_day"


@dataclass(frozen=True)
class Period:
    """``[start, end)``: ``end`` is the day after the period's last day."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def _add_months(day: date, months: int, billing_day: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    return date(month_index // 12, month_index % 12 + 1, billing_day)


def period_containing(day: date, cycle: Cycle, billing_day: int = 1) -> Period:
    """The period of ``cycle`` that ``day`` falls in."""
    if not 1 <= billing_day <= MAX_BILLING_DAY:
        raise ValueError(f"billing day must be 1 to {MAX_BILLING_DAY}")
    if cycle is Cycle.WEEKLY:
        start = day - timedelta(days=day.weekday())
        return Period(start, start + timedelta(days=7))
    # The latest aligned start on or before ``day``.
    start = date(day.year, day.month, billing_day)
    if start > day:
        start = _add_months(start, -1, billing_day)
    first_month = {Cycle.MONTHLY: start.month, Cycle.QUARTERLY: 1, Cycle.YEARLY: 1}[cycle]
    start = _add_months(start, -((start.month - first_month) % cycle.months), billing_day)
    return Period(start, _add_months(start, cycle.months, billing_day))


def next_period(period: Period, cycle: Cycle, billing_day: int = 1) -> Period:
    return period_containing(period.end, cycle, billing_day)


@dataclass(frozen=True)
class Charge:
    """What a membership owes for one period: the days it covers, and the unit price for
    them (the full price, or the price times covered days over the period's days)."""

    period: Period
    #: The days charged: the whole period, or the part the membership covers.
    covered: Period
    unit_price: Decimal

    @property
    def prorated(self) -> bool:
        return self.covered != self.period


def charge_for(
    period: Period,
    price: Decimal,
    *,
    starts: date,
    ends: date | None,
    on_start: Proration,
    on_end: Proration,
) -> Charge | None:
    """The charge for ``period`` of a membership running ``[starts, ends)`` (``ends`` None:
    open-ended), or None when the membership does not cover any of its days."""
    first = max(period.start, starts)
    last = period.end if ends is None else min(period.end, ends)
    if first >= last:
        return None
    if on_start is Proration.NONE:
        first = period.start
    if on_end is Proration.NONE:
        last = period.end
    covered = Period(first, last)
    if covered == period:
        return Charge(period, covered, price)
    unit_price = (price * covered.days / period.days).quantize(
        UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP
    )
    return Charge(period, covered, unit_price)


def describe(period: Period) -> str:
    """ "1 Nov 2026 to 30 Nov 2026", for invoice lines."""
    return f"{_day(period.start)} to {_day(period.last_day)}"


def _day(day: date) -> str:
    return f"{day.day} {calendar.month_abbr[day.month]} {day.year}"
