"""The customer page's owed figures are Xero's Contact.Balances, tested with real numbers: the
sandbox computes them from the contact's approved invoices and the sandbox clock's day, as
Xero does, instead of a test planting a Balances block."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.portal.pages import text
from tests.portal.test_xero_customers import (  # noqa: F401 - fixtures
    acme,
    add_contact,
    app,
    app_settings,
    connected,
    xero_app,
)
from tests.xero.conftest import sandbox  # noqa: F401
from xero_sandbox import create_sandbox_app


def issue_in_xero(served, contact_id: str, amount: str, due: str, paid: str | None = None):
    """An approved invoice made in Xero for the contact (and part of it paid there)."""
    token = served.sandbox.connect([served.org.tenant_id]).token["access_token"]
    client = create_sandbox_app(served.sandbox).test_client()
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": served.org.tenant_id}

    def put(path: str, body: dict) -> dict:
        answer = client.put(
            f"/api.xro/2.0/{path}",
            data=json.dumps(body),
            headers=headers,
            content_type="application/json",
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    [invoice] = put(
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "Status": "AUTHORISED",
            "DueDate": due,
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {"Description": "Desk", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200"}
            ],
        },
    )["Invoices"]
    if paid:
        put(
            "Payments",
            {
                "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                "Account": {"Code": "090"},
                "Amount": paid,
            },
        )


def test_the_customer_page_shows_what_xero_says_is_owed_and_overdue(
    admin_client,
    db,
    sandbox,  # noqa: F811
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    contact = add_contact(sandbox, "Acme Studio Ltd", contact_number="ACME-01")
    acme.xero_contact_id = contact.contact_id
    db.commit()
    today = datetime.fromtimestamp(sandbox.sandbox.clock.now(), tz=UTC).date()
    past, future = f"{today.year - 1}-01-31", f"{today.year + 1}-12-31"
    issue_in_xero(sandbox, contact.contact_id, "1200.00", past, paid="200.00")  # 1,000 overdue
    issue_in_xero(sandbox, contact.contact_id, "234.50", future)  # owed, not yet due

    page = text(admin_client.get(f"/admin/customers/{acme.id}/xero"))
    table = page[page.index('data-testid="side-by-side"') :]
    assert "£1,234.50" in table and "£1,000.00 overdue" in table
