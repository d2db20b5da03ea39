"""Putting a customer on a plan from the customer page: the membership listed with its next
invoice, bad input refused beside the form with nothing saved."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.recurring.model import Membership
from billing.recurring.periods import Cycle, next_period, period_containing
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory
from tests.portal.pages import text


@pytest.fixture
def setting(db, admin_client):
    rate = TaxRateFactory(name="VAT 20% (memberships)", rate_percent=Decimal("20"))
    plan = ServiceFactory(
        name="Dedicated desk", cycle=Cycle.MONTHLY, unit_price=Decimal("320"), tax_rate=rate
    )
    one_off = ServiceFactory(name="Day pass", tax_rate=rate)
    customer = CustomerFactory(name="Plan & Co")
    db.commit()  # a request answering 422 rolls back only what came after this point
    return plan, one_off, customer


def form(plan, **changes) -> dict:
    return {
        "service_id": str(plan.id),
        "starts_on": date.today().isoformat(),
        "ends_on": "",
        "quantity": "2",
        "price": "",
        "discount_percent": "",
        "note": "Desks 4 and 5",
        **changes,
    }


def day(value: date) -> str:
    """As the pages show a date (en_GB, medium)."""
    return f"{value.day} {value:%b %Y}"


def memberships(db) -> int:
    return db.scalar(select(func.count()).select_from(Membership))


def test_a_customer_is_put_on_a_plan_and_its_next_invoice_shown(db, admin_client, setting):
    plan, _, customer = setting
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "No memberships." in page and "Put Plan & Co on a plan" in page
    plan_form = page.split("Put Plan")[1].split("Pending charges")[0]
    assert "Day pass" not in plan_form  # one-off services are no plans

    response = admin_client.post_form(f"/admin/customers/{customer.id}/memberships", form(plan))

    assert response.status_code == 302, text(response)
    [membership] = db.scalars(select(Membership).where(Membership.customer_id == customer.id))
    assert (membership.quantity, membership.note) == (Decimal(2), "Desks 4 and 5")
    page = text(admin_client.get(response.headers["Location"]))
    assert "is on Dedicated desk from" in page
    row = page.split(f'data-testid="membership-{membership.id}"')[1].split("</tr>")[0]
    # In advance: the current period is invoiced by the run on (or after) its first day.
    current = period_containing(date.today(), Cycle.MONTHLY)
    assert f"The next billing run, for {day(current.start)} to {day(current.last_day)}" in row
    assert "£320.00 a month" in row and "Until ended" in row


def test_a_membership_already_invoiced_shows_the_following_period(db, admin_client, setting):
    from billing.recurring.run import bill_customer

    plan, _, customer = setting
    admin_client.post_form(f"/admin/customers/{customer.id}/memberships", form(plan))
    current = period_containing(date.today(), Cycle.MONTHLY)
    bill_customer(db, customer.id, current.start, prefix="INV-")
    db.commit()
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    following = next_period(current, Cycle.MONTHLY)
    assert (
        f"{day(following.start)}, for {day(following.start)} to {day(following.last_day)}" in page
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ends_on": (date.today() - timedelta(days=1)).isoformat()}, "cannot end before"),
        ({"starts_on": "2020-01-01"}, "at most a year back"),
        ({"quantity": "0"}, "Must be more than 0"),
        ({"quantity": "1.23456"}, "at most 4 decimal places"),
        ({"price": "-5"}, "Cannot be less than 0"),
        ({"price": "12.345678"}, "at most 4 decimal places"),
        ({"discount_percent": "150"}, "Cannot be more than 100"),
        ({"discount_percent": "100"}, "100% invoices nothing"),
        ({"price": "0"}, "a free membership invoices nothing"),
        ({"ends_on": "9999-12-31"}, "at most 50 years ahead"),
        ({"starts_on": (date.today() + timedelta(days=400)).isoformat()}, "at most a year ahead"),
        ({"starts_on": "not a date"}, "Not a valid date value"),
        ({"service_id": str(2**63)}, "Not a valid choice"),
        ({"note": "x" * 501}, "Field cannot be longer than 500 characters"),
        ({"note": "a\x00b"}, "contains a character that cannot be stored"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(db, admin_client, setting, changes, message):
    plan, _, customer = setting
    response = admin_client.post_form(
        f"/admin/customers/{customer.id}/memberships", form(plan, **changes)
    )
    assert response.status_code in (400, 422)
    assert message in text(response)
    assert memberships(db) == 0


def test_a_one_off_service_is_no_plan(db, admin_client, setting):
    _, one_off, customer = setting
    response = admin_client.post_form(f"/admin/customers/{customer.id}/memberships", form(one_off))
    assert response.status_code == 422 and "Not a valid choice" in text(response)
    assert memberships(db) == 0


def test_an_unknown_customer_is_not_found(db, admin_client, setting):
    plan, _, _ = setting
    response = admin_client.post_form("/admin/customers/999999/memberships", form(plan))
    assert response.status_code == 404
    assert memberships(db) == 0


def test_members_cannot_put_anyone_on_a_plan(db, member_client, setting):
    plan, _, customer = setting
    response = member_client.post_form(f"/admin/customers/{customer.id}/memberships", form(plan))
    assert response.status_code in (403, 404)
    assert memberships(db) == 0
