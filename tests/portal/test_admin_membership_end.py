"""Ending a membership from the customer page: the terms shown, an end within them refused
beside the form with nothing saved, an exception with its reason kept and audited, and
another customer's membership not found."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.recurring.model import Membership
from billing.recurring.periods import Cycle
from portal.auth.audit import AuditEntry
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory
from tests.portal.pages import text


@pytest.fixture
def membership(db, admin_client):
    plan = ServiceFactory(
        name="Private office",
        cycle=Cycle.MONTHLY,
        unit_price=Decimal("310"),
        tax_rate=TaxRateFactory(name="VAT 20% (end page)", rate_percent=Decimal("20")),
        notice_days=30,
    )
    membership = Membership(
        customer=CustomerFactory(name="Leaving Ltd"), service=plan, starts_on=date.today()
    )
    db.add(membership)
    db.commit()
    return membership


def url(membership) -> str:
    return f"/admin/customers/{membership.customer_id}/memberships/{membership.id}/end"


def test_the_page_shows_the_terms_and_an_end_at_the_earliest_is_kept(db, admin_client, membership):
    earliest = date.today() + timedelta(days=30)
    page = text(admin_client.get(url(membership)))
    assert "End Leaving Ltd's Private office" in page
    assert f"Notice: 30 days, so {earliest.day} {earliest:%b %Y} at the earliest" in page
    assert f'value="{earliest.isoformat()}"' in page  # the last day offered

    ended = admin_client.post_form(url(membership), {"last_day": earliest.isoformat()})
    assert ended.status_code == 302
    db.refresh(membership)
    assert membership.ends_on == earliest and membership.end_override_reason == ""
    customer_page = text(admin_client.get(f"/admin/customers/{membership.customer_id}"))
    assert f"Leaving Ltd's Private office ends on {earliest:%d %b %Y}" in customer_page


def test_within_the_notice_only_with_a_reason_which_is_audited(db, admin_client, membership):
    soon = (date.today() + timedelta(days=3)).isoformat()
    refused = admin_client.post_form(url(membership), {"last_day": soon, "reason": ""})
    assert refused.status_code == 422
    assert "To end it sooner, give the reason for the exception." in text(refused)
    db.refresh(membership)
    assert membership.ends_on is None

    allowed = admin_client.post_form(
        url(membership), {"last_day": soon, "reason": "Moving abroad, agreed by the manager"}
    )
    assert allowed.status_code == 302
    db.refresh(membership)
    assert membership.end_override_reason == "Moving abroad, agreed by the manager"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "membership.ended"))
    assert "exception to the plan's terms: Moving abroad, agreed by the manager" in entry.detail


@pytest.mark.parametrize(
    "data",
    [
        {"last_day": ""},
        {"last_day": "31/12/2026"},
        {"last_day": "2000-01-01", "reason": "long ago, before it started"},
        {"last_day": "2099-01-01", "reason": "x" * 501},
    ],
)
def test_bad_input_changes_nothing(db, admin_client, membership, data):
    response = admin_client.post_form(url(membership), data)
    assert response.status_code == 422
    db.refresh(membership)
    assert membership.ends_on is None


def test_another_customers_membership_is_not_found(db, admin_client, membership):
    other = CustomerFactory()
    db.commit()
    wrong = f"/admin/customers/{other.id}/memberships/{membership.id}/end"
    assert admin_client.get(wrong).status_code == 404
    assert admin_client.post_form(wrong, {"last_day": "2099-01-01"}).status_code == 404
    db.refresh(membership)
    assert membership.ends_on is None
