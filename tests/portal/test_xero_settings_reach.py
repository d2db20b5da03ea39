"""Every Xero setting can be reached on a page and does what it says: the payment toggles on
the settings page, the default sales account on new services, and the paymentservices scope
the branding-theme check needs (asked for on connect, missing from older connections)."""

from __future__ import annotations

import re

from sqlalchemy import select

from billing.db import utcnow
from tests.portal.test_xero_connection import (  # noqa: F401 - fixtures
    CLIENT_ID,
    app_settings,
    connect,
    connections,
    flashes,
    xero_wiring,
)
from tests.portal.test_xero_settings import good_form, rates  # noqa: F401
from xero.models import ConnectionStatus, XeroConnection, XeroSettings
from xero.tokens import store_tokens

URL = "/admin/xero/settings"
#: What the portal asked Xero for before it asked for paymentservices.
OLD_SCOPE = "offline_access accounting.transactions accounting.contacts accounting.settings"


def connect_with(app, db, admin, served, scope: str | None) -> XeroConnection:
    """A connection as the consent flow leaves it, granted ``scope`` (None: what the portal
    asks for now)."""
    client = served.sandbox.identity.clients[CLIENT_ID]
    token = served.sandbox.connect([served.org.tenant_id], client=client, scope=scope).token
    connection = XeroConnection(
        tenant_id=served.org.tenant_id,
        tenant_name=served.org.name,
        status=ConnectionStatus.ACTIVE,
        connected_by_id=admin.id,
    )
    store_tokens(connection, token, app.extensions["secret_box"], utcnow())
    db.add(connection)
    db.flush()
    return connection


def checkbox_checked(page: str, name: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, name
    return "checked" in tag[0]


# -- the payment toggles ----------------------------------------------------------------------


def test_payment_toggles_are_on_the_settings_page_and_saved(
    app,
    admin_client,
    db,
    admin,
    rates,  # noqa: F811
    sandbox,
):
    connect_with(app, db, admin, sandbox, None)
    page = admin_client.get(URL).get_data(as_text=True)
    # Both directions are on until an admin turns one off.
    assert checkbox_checked(page, "sync_payments_out")
    assert checkbox_checked(page, "sync_payments_in")

    form = {**good_form(sandbox, rates), "sync_payments_in": "y"}  # payments out left off
    response = admin_client.post_form(URL, form)
    assert response.status_code == 302, response.data
    settings = db.scalar(select(XeroSettings))
    assert (settings.sync_payments_out, settings.sync_payments_in) == (False, True)

    page = admin_client.get(URL).get_data(as_text=True)
    assert not checkbox_checked(page, "sync_payments_out")
    assert checkbox_checked(page, "sync_payments_in")


def test_payments_account_is_not_needed_when_payments_to_xero_are_off(
    app,
    admin_client,
    db,
    admin,
    rates,  # noqa: F811
    sandbox,
):
    connect_with(app, db, admin, sandbox, None)
    form = {**good_form(sandbox, rates), "payments_account": "", "sync_payments_in": "y"}
    response = admin_client.post_form(URL, form)
    assert response.status_code == 302, response.data
    assert db.scalar(select(XeroSettings)).payments_account == ""

    refused = admin_client.post_form(URL, {**form, "sync_payments_out": "y"})
    assert refused.status_code == 422
    assert "Xero has no account with code" in refused.get_data(as_text=True)


# -- the default sales account ----------------------------------------------------------------


def sales_account_prefill(admin_client) -> str:
    page = admin_client.get("/admin/services/new").get_data(as_text=True)
    found = re.search(r'<input[^>]*id="sales_account_code"[^>]*>', page)
    assert found
    value = re.search(r'value="([^"]*)"', found[0])
    return value[1] if value else ""


def test_new_services_prefill_the_xero_default_sales_account(
    app,
    admin_client,
    db,
    admin,
    rates,  # noqa: F811
    sandbox,
):
    assert sales_account_prefill(admin_client) == app.config["DEFAULT_SALES_ACCOUNT"]
    connect_with(app, db, admin, sandbox, None)
    form = {**good_form(sandbox, rates), "default_sales_account": "260"}
    assert admin_client.post_form(URL, form).status_code == 302
    assert sales_account_prefill(admin_client) == "260"


# -- the paymentservices scope ----------------------------------------------------------------


def test_connect_asks_for_paymentservices_and_records_it(admin_client, db):
    connect(admin_client)
    [connection] = connections(db)
    assert "paymentservices" in connection.scopes.split()
    page = admin_client.get("/admin/xero").get_data(as_text=True)
    assert 'data-testid="missing-scopes"' not in page


def test_an_older_connection_without_paymentservices_is_shown_and_cannot_check_the_theme(
    app,
    admin_client,
    db,
    admin,
    rates,  # noqa: F811
    sandbox,
):
    connect_with(app, db, admin, sandbox, OLD_SCOPE)
    page = admin_client.get("/admin/xero").get_data(as_text=True)
    assert 'data-testid="missing-scopes"' in page
    assert "paymentservices" in page

    # Xero refuses the payment-service look-up to such a connection: the theme cannot be
    # checked, which the page says, instead of claiming the theme has no service.
    form = good_form(sandbox, rates)
    assert admin_client.post_form(URL, form).status_code == 302
    messages = flashes(admin_client)
    assert any("Could not check whether the branding theme" in m for m in messages), messages
    assert db.scalar(select(XeroSettings)).branding_theme_has_payment_service is False


def test_a_connection_with_paymentservices_checks_the_theme(
    app,
    admin_client,
    db,
    admin,
    rates,  # noqa: F811
    sandbox,
):
    connect_with(app, db, admin, sandbox, None)
    assert 'data-testid="missing-scopes"' not in admin_client.get("/admin/xero").get_data(
        as_text=True
    )
    assert admin_client.post_form(URL, good_form(sandbox, rates)).status_code == 302
    assert flashes(admin_client) == ["Xero settings saved."]
    assert db.scalar(select(XeroSettings)).branding_theme_has_payment_service is True
