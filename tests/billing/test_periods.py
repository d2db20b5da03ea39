"""Billing periods and proration against figures worked out by hand, and a property: the
days charged for an active membership never overlap and never leave a gap."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.recurring.periods import (
    Cycle,
    Period,
    Proration,
    charge_for,
    describe,
    next_period,
    period_containing,
)

BY_DAY, NONE = Proration.BY_DAY, Proration.NONE


@pytest.mark.parametrize(
    ("day", "cycle", "billing_day", "start", "end"),
    [
        (date(2026, 11, 17), Cycle.MONTHLY, 1, date(2026, 11, 1), date(2026, 12, 1)),
        (date(2026, 11, 1), Cycle.MONTHLY, 1, date(2026, 11, 1), date(2026, 12, 1)),
        (date(2026, 12, 31), Cycle.MONTHLY, 1, date(2026, 12, 1), date(2027, 1, 1)),
        # Billing day 15: 10 January belongs to the period that began on 15 December.
        (date(2027, 1, 10), Cycle.MONTHLY, 15, date(2026, 12, 15), date(2027, 1, 15)),
        (date(2026, 5, 20), Cycle.QUARTERLY, 1, date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 12, 2), Cycle.QUARTERLY, 1, date(2026, 10, 1), date(2027, 1, 1)),
        (date(2026, 5, 20), Cycle.YEARLY, 1, date(2026, 1, 1), date(2027, 1, 1)),
        # 2 December 2026 is a Wednesday: its week began on Monday 30 November.
        (date(2026, 12, 2), Cycle.WEEKLY, 1, date(2026, 11, 30), date(2026, 12, 7)),
    ],
)
def test_the_period_a_day_falls_in(day, cycle, billing_day, start, end):
    assert period_containing(day, cycle, billing_day) == Period(start, end)


def test_a_billing_day_past_the_28th_is_refused():
    with pytest.raises(ValueError, match="1 to 28"):
        period_containing(date(2026, 1, 1), Cycle.MONTHLY, 29)


NOVEMBER = Period(date(2026, 11, 1), date(2026, 12, 1))  # 30 days


def test_a_start_on_the_17th_of_a_30_day_month_pays_14_days():
    charge = charge_for(
        NOVEMBER,
        Decimal("300.00"),
        starts=date(2026, 11, 17),
        ends=None,
        on_start=BY_DAY,
        on_end=BY_DAY,
    )
    # 17 to 30 November: 14 days of 30; 300 x 14 / 30 = 140.
    assert charge.covered == Period(date(2026, 11, 17), date(2026, 12, 1))
    assert charge.unit_price == Decimal("140.0000")
    assert charge.prorated


def test_an_uneven_proration_keeps_four_places_rounded_half_up():
    # 250 x 14 / 30 = 116.66666... -> 116.6667
    charge = charge_for(
        NOVEMBER,
        Decimal("250"),
        starts=date(2026, 11, 17),
        ends=None,
        on_start=BY_DAY,
        on_end=BY_DAY,
    )
    assert charge.unit_price == Decimal("116.6667")


def test_a_start_without_proration_pays_the_whole_period():
    charge = charge_for(
        NOVEMBER, Decimal("300"), starts=date(2026, 11, 17), ends=None, on_start=NONE, on_end=BY_DAY
    )
    assert charge.covered == NOVEMBER and charge.unit_price == Decimal("300")
    assert not charge.prorated


def test_an_end_mid_period_with_and_without_prorated_cancellation():
    # Last day 10 November: the membership runs [1 Nov, 11 Nov), 10 days of 30.
    ends = date(2026, 11, 11)
    prorated = charge_for(
        NOVEMBER, Decimal("300"), starts=date(2026, 1, 1), ends=ends, on_start=BY_DAY, on_end=BY_DAY
    )
    assert prorated.covered == Period(date(2026, 11, 1), ends)
    assert prorated.unit_price == Decimal("100.0000")
    whole = charge_for(
        NOVEMBER, Decimal("300"), starts=date(2026, 1, 1), ends=ends, on_start=BY_DAY, on_end=NONE
    )
    assert whole.covered == NOVEMBER and whole.unit_price == Decimal("300")


def test_a_start_and_an_end_in_one_period():
    # 10 to 19 February 2027: 10 days of 28; 280 x 10 / 28 = 100.
    february = Period(date(2027, 2, 1), date(2027, 3, 1))
    charge = charge_for(
        february,
        Decimal("280"),
        starts=date(2027, 2, 10),
        ends=date(2027, 2, 20),
        on_start=BY_DAY,
        on_end=BY_DAY,
    )
    assert charge.covered.days == 10 and charge.unit_price == Decimal("100.0000")


def test_no_charge_for_a_period_the_membership_does_not_reach():
    assert (
        charge_for(
            NOVEMBER,
            Decimal("300"),
            starts=date(2026, 12, 1),
            ends=None,
            on_start=BY_DAY,
            on_end=BY_DAY,
        )
        is None
    )
    assert (
        charge_for(
            NOVEMBER,
            Decimal("300"),
            starts=date(2026, 1, 1),
            ends=date(2026, 11, 1),
            on_start=BY_DAY,
            on_end=BY_DAY,
        )
        is None
    )


def test_lines_describe_the_days_charged():
    assert describe(Period(date(2026, 11, 17), date(2026, 12, 1))) == "17 Nov 2026 to 30 Nov 2026"


@given(
    starts=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    length=st.one_of(st.none(), st.integers(min_value=1, max_value=800)),
    cycle=st.sampled_from(list(Cycle)),
    billing_day=st.integers(min_value=1, max_value=28),
)
def test_charged_days_never_overlap_and_never_leave_a_gap(starts, length, cycle, billing_day):
    ends = None if length is None else starts + timedelta(days=length)
    period = period_containing(starts, cycle, billing_day)
    covered = []
    for _ in range(24):
        assert period.start < period.end
        charge = charge_for(
            period, Decimal("100"), starts=starts, ends=ends, on_start=BY_DAY, on_end=BY_DAY
        )
        if charge is not None:
            assert charge.period.start <= charge.covered.start < charge.covered.end
            assert charge.covered.end <= charge.period.end
            assert Decimal(0) <= charge.unit_price <= Decimal(100)
            covered.append(charge.covered)
        following = next_period(period, cycle, billing_day)
        assert following.start == period.end  # periods themselves tile the calendar
        period = following
    assert covered[0].start == starts
    for earlier, later in zip(covered, covered[1:], strict=False):
        assert earlier.end == later.start
    last_covered = covered[-1].end
    if ends is not None and ends <= period.start:
        assert last_covered == ends  # the membership's every day, and not one more
    else:
        assert last_covered == period.start  # active throughout the 24 periods
