"""Pending charges from the customer page: added (listed until the billing run invoices
them), bad input refused beside the form with nothing saved, removed after a confirmation,
and refused once invoiced or when they are another customer's."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.recurring.model import PendingCharge
from billing.recurring.periods import Cycle
from billing.recurring.run import bill_customer
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory
from tests.portal.pages import text


@pytest.fixture
def setting(db, admin_client):
    rate = TaxRateFactory(name="VAT 20% (charges page)", rate_percent=Decimal("20"))
    room = ServiceFactory(name="Meeting room hour", unit_price=Decimal("25"), tax_rate=rate)
    plan = ServiceFactory(name="Desk plan", cycle=Cycle.MONTHLY, tax_rate=rate)
    customer = CustomerFactory(name="Charge & Co")
    db.commit()  # a request answering 422 rolls back only what came after this point
    return room, plan, customer


def form(room, **changes) -> dict:
    fields = {
        "service_id": str(room.id),
        "charged_on": date.today().isoformat(),
        "quantity": "2",
        "unit_price": "",
        "description": "Board meeting",
        **changes,
    }
    return {f"charge-{name}": value for name, value in fields.items()}


def charges(db) -> int:
    return db.scalar(select(func.count()).select_from(PendingCharge))


def test_a_charge_is_added_listed_and_removed(db, admin_client, setting):
    room, plan, customer = setting
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "No pending charges." in page and "Add a charge for Charge & Co" in page
    # Only one-off services are offered: a plan is a membership.
    charge_form = page[page.index("Add a charge for") :]
    assert "Meeting room hour" in charge_form and f'<option value="{plan.id}"' not in charge_form

    added = admin_client.post_form(f"/admin/customers/{customer.id}/charges", form(room))
    assert added.status_code == 302
    [charge] = db.scalars(select(PendingCharge)).all()
    assert (charge.customer_id, charge.quantity, charge.description) == (
        customer.id,
        Decimal(2),
        "Board meeting",
    )
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "goes on Charge & Co's next invoice from the billing run." in page
    assert f'data-testid="pending-charge-{charge.id}"' in page
    assert (
        'data-confirm="Remove this charge of Meeting room hour? It will not be invoiced."' in page
    )

    removed = admin_client.post_form(f"/admin/customers/{customer.id}/charges/{charge.id}/remove")
    assert removed.status_code == 302 and charges(db) == 0
    assert "The charge was removed." in text(admin_client.get(f"/admin/customers/{customer.id}"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": "0"}, "Quantity"),
        ({"quantity": "-1"}, "Quantity"),
        ({"quantity": "1.00001"}, "decimal places"),
        ({"unit_price": "-5"}, "Unit price"),
        ({"unit_price": "12.34567"}, "decimal places"),
        ({"unit_price": "0"}, "Unit price"),
        ({"unit_price": "99999999999999"}, "Cannot be more than"),
        ({"charged_on": (date.today() + timedelta(days=400)).isoformat()}, "at most a year"),
        ({"charged_on": "yesterday"}, "Not a valid date value"),
        ({"description": "<script>alert(1)</script>" + "x" * 500}, "500"),
        ({"service_id": "999999999"}, "Not a valid choice"),
        ({"service_id": str(2**63)}, "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_beside_the_form_and_nothing_is_saved(
    db, admin_client, setting, changes, message
):
    room, _, customer = setting
    response = admin_client.post_form(
        f"/admin/customers/{customer.id}/charges", form(room, **changes)
    )
    assert response.status_code == 422
    assert message in text(response)
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert charges(db) == 0


def test_a_plan_is_not_a_charge(db, admin_client, setting):
    _, plan, customer = setting
    response = admin_client.post_form(
        f"/admin/customers/{customer.id}/charges", form(plan, service_id=str(plan.id))
    )
    assert response.status_code == 422 and charges(db) == 0


def test_an_invoiced_or_another_customers_charge_is_not_removed(db, admin_client, setting):
    room, _, customer = setting
    other = CustomerFactory(name="Other Ltd")
    db.commit()
    admin_client.post_form(f"/admin/customers/{customer.id}/charges", form(room))
    admin_client.post_form(f"/admin/customers/{other.id}/charges", form(room))
    mine, theirs = db.scalars(select(PendingCharge).order_by(PendingCharge.id)).all()

    # Through this customer's page, the other customer's charge is not found.
    wrong = admin_client.post_form(f"/admin/customers/{customer.id}/charges/{theirs.id}/remove")
    assert wrong.status_code == 302
    shown = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "That charge is on an invoice already, or was removed." in shown
    assert db.get(PendingCharge, theirs.id) is not None

    [invoice] = bill_customer(db, customer.id, date.today(), prefix="PAGE-")
    db.commit()
    refused = admin_client.post_form(f"/admin/customers/{customer.id}/charges/{mine.id}/remove")
    assert refused.status_code == 302
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "That charge is on an invoice already, or was removed." in page
    db.refresh(mine)
    assert mine.invoice_id == invoice.id


@pytest.mark.parametrize(("charge_id", "status"), [(str(2**63), 404), ("99999999", 302)])
def test_unknown_charge_ids_change_nothing(db, admin_client, setting, charge_id, status):
    room, _, customer = setting
    admin_client.post_form(f"/admin/customers/{customer.id}/charges", form(room))
    response = admin_client.post_form(f"/admin/customers/{customer.id}/charges/{charge_id}/remove")
    assert response.status_code == status  # 404: past 2^63, no row could have it
    assert charges(db) == 1
