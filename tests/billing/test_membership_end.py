"""Ending a membership: the plan's notice and minimum term worked out by hand and kept, an
exception only with its reason, never before what is invoiced already; the run then bills
up to the last day (prorated as the plan says)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.errors import BillingError
from billing.recurring.memberships import (
    EndTooSoon,
    end_membership,
    end_terms,
    get_membership,
)
from billing.recurring.model import Membership
from billing.recurring.periods import Cycle
from billing.recurring.run import bill_customer
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory

TODAY = date(2026, 11, 10)


@pytest.fixture
def office(db):
    rate = TaxRateFactory(name="VAT 20% (ends)", rate_percent=Decimal("20"))
    # 30 days' notice, 3 months at least.
    return ServiceFactory(
        name="Private office",
        cycle=Cycle.MONTHLY,
        unit_price=Decimal("310"),
        tax_rate=rate,
        notice_days=30,
        minimum_term_periods=3,
    )


def member(db, office, starts_on) -> Membership:
    membership = Membership(customer=CustomerFactory(), service=office, starts_on=starts_on)
    db.add(membership)
    db.commit()
    return membership


def test_the_terms_by_hand(db, office):
    # Started 17 October: its minimum term is October (part), November and December.
    membership = member(db, office, date(2026, 10, 17))
    terms = end_terms(membership, TODAY)
    assert terms.notice_from == date(2026, 12, 10)  # 10 November + 30 days
    assert terms.minimum_to == date(2026, 12, 31)
    assert terms.earliest == date(2026, 12, 31) and terms.invoiced_to is None


def test_an_end_within_the_terms_is_refused_without_a_reason(db, office):
    membership = member(db, office, date(2026, 10, 17))
    with pytest.raises(EndTooSoon) as refused:
        end_membership(db, membership, date(2026, 11, 30), today=TODAY)
    assert str(refused.value) == (
        "The plan's terms allow 31 Dec 2026 at the earliest (30 days' notice and a minimum "
        "term to 31 Dec 2026). To end it sooner, give the reason for the exception."
    )
    with pytest.raises(EndTooSoon):
        end_membership(db, membership, date(2026, 11, 30), today=TODAY, exception_reason=" ok ")
    db.refresh(membership)
    assert membership.ends_on is None


def test_an_end_at_the_earliest_and_an_exception_with_its_reason(db, office):
    membership = member(db, office, date(2026, 10, 17))
    end_membership(db, membership, date(2026, 12, 31), today=TODAY)
    assert (membership.ends_on, membership.end_override_reason) == (date(2026, 12, 31), "")

    end_membership(
        db,
        membership,
        date(2026, 11, 20),
        today=TODAY,
        exception_reason="Company closed; agreed with the manager",
    )
    assert membership.ends_on == date(2026, 11, 20)
    assert membership.end_override_reason == "Company closed; agreed with the manager"
    # The run bills October's part, then November up to the 20th: 20 of 30 days.
    [invoice] = bill_customer(db, membership.customer_id, date(2026, 11, 1), prefix="END-")
    assert [(line.description, line.unit_price) for line in invoice.lines] == [
        ("Private office, 17 Oct 2026 to 31 Oct 2026 (15 of 31 days)", Decimal("150.0000")),
        ("Private office, 1 Nov 2026 to 20 Nov 2026 (20 of 30 days)", Decimal("206.6667")),
    ]
    assert bill_customer(db, membership.customer_id, date(2026, 12, 1), prefix="END-") == []


def test_never_before_it_starts_nor_before_what_is_invoiced(db, office):
    membership = member(db, office, date(2026, 10, 17))
    with pytest.raises(BillingError, match="cannot end before it starts"):
        end_membership(db, membership, date(2026, 10, 1), today=TODAY, exception_reason="because")
    bill_customer(db, membership.customer_id, date(2026, 11, 1), prefix="END-")  # to 30 Nov
    db.refresh(membership)
    assert end_terms(membership, TODAY).invoiced_to == date(2026, 11, 30)
    with pytest.raises(BillingError, match="invoiced up to 30 Nov 2026: end it on that day"):
        end_membership(
            db, membership, date(2026, 11, 20), today=TODAY, exception_reason="Closed down"
        )
    end_membership(db, membership, date(2026, 11, 30), today=TODAY, exception_reason="Closed")
    assert membership.ends_on == date(2026, 11, 30)


def test_a_plan_without_terms_ends_from_today(db):
    flex = ServiceFactory(cycle=Cycle.MONTHLY, tax_rate=TaxRateFactory())
    membership = member(db, flex, date(2026, 11, 1))
    assert end_terms(membership, TODAY).earliest == TODAY
    end_membership(db, membership, TODAY, today=TODAY)
    assert membership.ends_on == TODAY


def test_another_customers_membership_is_not_found(db, office):
    from billing.errors import NotFound

    membership = member(db, office, date(2026, 10, 17))
    with pytest.raises(NotFound):
        get_membership(db, membership.customer_id + 1000, membership.id)
    assert get_membership(db, membership.customer_id, membership.id, lock=True) is membership


def test_an_end_already_invoiced_prorated_is_not_moved_later(db):
    # Billed in advance and prorated at its end: 1 to 15 December is invoiced; moving the
    # end to March would leave 16 to 31 December never invoiced.
    flex = ServiceFactory(cycle=Cycle.MONTHLY, unit_price=Decimal("310"), tax_rate=TaxRateFactory())
    membership = member(db, flex, date(2026, 12, 1))
    end_membership(db, membership, date(2026, 12, 15), today=TODAY)
    bill_customer(db, membership.customer_id, date(2026, 12, 1), prefix="END-")
    db.refresh(membership)
    with pytest.raises(BillingError, match="invoiced to 15 Dec 2026 only"):
        end_membership(db, membership, date(2027, 3, 31), today=TODAY)
    assert membership.ends_on == date(2026, 12, 15)


@pytest.mark.parametrize("last_day", [date(9999, 12, 31), date(2100, 1, 1)])
def test_a_last_day_past_any_sensible_date_is_refused(db, office, last_day):
    membership = member(db, office, date(2026, 10, 17))
    with pytest.raises(BillingError, match="at most 50 years ahead"):
        end_membership(db, membership, last_day, today=TODAY)
    assert membership.ends_on is None
