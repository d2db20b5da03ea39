"""A member asks to pay via Xero before the worker fetched the invoice's online link: the
portal fetches it there and then (from the calls a minute kept for members) and sends the
member on to Xero's online invoice; with the minute spent, the member is told it is on its
way. Against the sandbox, with the rate budget's clock the service's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.factories import ServiceFactory, make_invoice
from tests.portal.test_xero_customers import (  # noqa: F401 - fixtures
    add_contact,
    app,
    app_settings,
    connected,
    xero_app,
)
from tests.xero.conftest import sandbox  # noqa: F401
from xero.api import ratelimit
from xero.models import XeroCall, XeroInvoiceLink
from xero_sandbox import create_sandbox_app


def xero_invoice_for(served, contact_id: str) -> str:
    """An approved invoice in Xero for the contact; returns its InvoiceID."""
    token = served.sandbox.connect([served.org.tenant_id]).token["access_token"]
    answer = (
        create_sandbox_app(served.sandbox)
        .test_client()
        .put(
            "/api.xro/2.0/Invoices",
            data=json.dumps(
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": contact_id},
                    "Status": "AUTHORISED",
                    "DueDate": "2026-12-31",
                    "LineAmountTypes": "NoTax",
                    "LineItems": [
                        {
                            "Description": "Desk",
                            "Quantity": 1,
                            "UnitAmount": "120.00",
                            "AccountCode": "200",
                        }
                    ],
                }
            ),
            headers={"Authorization": f"Bearer {token}", "xero-tenant-id": served.org.tenant_id},
            content_type="application/json",
        )
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["Invoices"][0]["InvoiceID"]


@pytest.fixture
def in_xero(db, sandbox, connected, member):  # noqa: F811
    """The member's invoice, in Xero, its online link not fetched yet."""
    invoice = make_invoice(db, member.customer, [(ServiceFactory(unit_price=Decimal("100")), "1")])
    contact = add_contact(sandbox, "Member Co")
    xero_invoice_id = xero_invoice_for(sandbox, contact.contact_id)
    db.add(XeroInvoiceLink(invoice_id=invoice.id, xero_invoice_id=xero_invoice_id))
    db.commit()
    return invoice


def online_calls(app) -> int:  # noqa: F811
    return app.extensions["xero"].counter.by_method.get("get_online_invoice", 0)


def test_the_invoice_page_offers_xero_before_the_link_is_fetched(
    app,  # noqa: F811
    member_client,
    in_xero,
):
    response = member_client.get(f"/invoices/{in_xero.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Pay online via Xero" in page and f"/invoices/{in_xero.id}/pay/xero" in page
    assert "on its way" not in page
    assert online_calls(app) == 0  # showing the page asks Xero nothing


def test_asking_fetches_the_link_once_and_goes_to_xero(
    app,  # noqa: F811
    db,
    member_client,
    sandbox,  # noqa: F811
    in_xero,
):
    response = member_client.get(f"/invoices/{in_xero.id}/pay/xero")

    assert response.status_code == 302
    link = db.get(XeroInvoiceLink, in_xero.id)
    db.refresh(link)
    assert link.online_invoice_url and response.headers["Location"] == link.online_invoice_url
    assert response.headers["Location"].startswith(sandbox.url)
    again = member_client.get(f"/invoices/{in_xero.id}/pay/xero")
    assert again.headers["Location"] == link.online_invoice_url
    assert online_calls(app) == 1  # stored: asked of Xero once
    page = member_client.get(f"/invoices/{in_xero.id}").get_data(as_text=True)
    assert link.online_invoice_url in page  # the stored link, straight to Xero


def test_with_the_minute_spent_the_member_is_told_the_link_is_on_its_way(
    app,  # noqa: F811
    db,
    member_client,
    connected,  # noqa: F811
    in_xero,
):
    service = app.extensions["xero"]
    now = datetime.now(UTC)
    while ratelimit.take_call(db, connected.tenant_id, now, service.per_minute) == 0:
        pass
    db.commit()

    response = member_client.get(f"/invoices/{in_xero.id}/pay/xero")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/invoices/{in_xero.id}")
    page = member_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "on its way" in page
    assert online_calls(app) == 0
    assert len(db.scalars(select(XeroCall)).all()) == service.per_minute  # none beyond
    assert db.get(XeroInvoiceLink, in_xero.id).online_invoice_url == ""


def test_another_members_invoice_is_not_found(app, db, client, in_xero):  # noqa: F811
    from tests.conftest import login
    from tests.factories import MemberFactory

    other = MemberFactory()
    db.commit()
    login(client, other.email)
    assert client.get(f"/invoices/{in_xero.id}/pay/xero").status_code == 404
    assert online_calls(app) == 0
