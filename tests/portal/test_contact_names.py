"""A customer and its Xero contact: "Keep client names in sync" is honoured by every path
that writes the contact (customer edit, Export to Xero; the invoice push has its own test in
tests/xero/test_sync_invoices.py), and the side-by-side
view does not call addresses different that differ only in their line endings."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.portal.test_xero_customers import (  # noqa: F401 - fixtures
    acme,
    add_contact,
    app,
    app_settings,
    connected,
    reloaded,
    xero_app,
)
from xero.models import XeroSettings

XERO_NAME = "Acme (as named in Xero)"


def customer_form(**changes) -> dict:
    return {
        "name": "Acme Studio Ltd",
        "contact_name": "",
        "email": "new-accounts@acme.example",
        "phone": "",
        "address": "1 High Street\r\nLondon",  # as a browser posts a textarea
        "ledger_code": "ACME-01",
        "payment_terms_days": "30",
        **changes,
    }


@pytest.fixture
def linked(db, sandbox, connected, acme):  # noqa: F811
    contact = add_contact(
        sandbox, XERO_NAME, contact_number="ACME-01", email_address="accounts@acme.example"
    )
    acme.xero_contact_id = contact.contact_id
    db.commit()
    return contact


def keep_names(db, on: bool) -> None:
    settings = db.scalar(select(XeroSettings))
    settings.sync_client_names = on
    db.commit()


@pytest.mark.parametrize("sync_names", [False, True])
def test_editing_a_customer_renames_the_contact_only_when_names_are_kept_in_sync(
    admin_client,
    app,  # noqa: F811
    db,
    sandbox,
    acme,  # noqa: F811
    linked,
    sync_names,
):
    keep_names(db, sync_names)
    response = admin_client.post_form(f"/admin/customers/{acme.id}/edit", customer_form())
    assert response.status_code == 302
    app.extensions["xero"].worker().drain()
    contact = sandbox.org.contacts[linked.contact_id]
    assert contact.name == ("Acme Studio Ltd" if sync_names else XERO_NAME)
    assert contact.email_address == "new-accounts@acme.example"  # the rest is sent either way


@pytest.mark.parametrize("sync_names", [False, True])
def test_export_renames_the_contact_only_when_names_are_kept_in_sync(
    admin_client,
    app,  # noqa: F811
    db,
    sandbox,
    acme,  # noqa: F811
    linked,
    sync_names,
):
    keep_names(db, sync_names)
    assert admin_client.post_form(f"/admin/customers/{acme.id}/xero/export").status_code == 302
    app.extensions["xero"].worker().drain()
    contact = sandbox.org.contacts[linked.contact_id]
    assert contact.name == ("Acme Studio Ltd" if sync_names else XERO_NAME)


def test_addresses_differing_only_in_line_endings_are_not_flagged(
    admin_client,
    db,
    sandbox,
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    contact = add_contact(
        sandbox,
        "Acme Studio Ltd",
        contact_number="ACME-01",
        email_address="new-accounts@acme.example",
        extra={
            "Addresses": [
                {"AddressType": "POBOX", "AddressLine1": "1 High Street", "City": "London"}
            ]
        },
    )
    acme.xero_contact_id = contact.contact_id
    db.commit()
    # Saved through the edit page, as a browser posts it: CRLF line endings.
    response = admin_client.post_form(f"/admin/customers/{acme.id}/edit", customer_form())
    assert response.status_code == 302
    assert "\r\n" in reloaded(db, acme).address
    page = admin_client.get(f"/admin/customers/{acme.id}/xero").get_data(as_text=True)
    assert 'class="differs"' not in page

    # A real difference is still flagged.
    admin_client.post_form(
        f"/admin/customers/{acme.id}/edit", customer_form(address="2 Low Road\r\nLondon")
    )
    page = admin_client.get(f"/admin/customers/{acme.id}/xero").get_data(as_text=True)
    assert 'class="differs"' in page
