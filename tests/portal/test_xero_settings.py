"""Settings > Accounting software > Xero > Xero settings: lists read live from the sandbox,
saving, every refused mapping (nothing saved), the payment-service warning and Xero errors."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.db import utcnow
from billing.services import TaxRate
from tests import factories
from tests.portal.test_xero_connection import (  # noqa: F401 - fixtures
    CLIENT_ID,
    app_settings,
    flashes,
    xero_wiring,
)
from xero.api.tokens import store_tokens
from xero.models import ConnectionStatus, TaxRateMapping, XeroConnection, XeroSettings
from xero.settings import choices as settings_sync
from xero.settings import tax_defaults
from xero_sandbox.state import Account, new_id

URL = "/admin/xero/settings"


@pytest.fixture
def connected(app, db, admin, sandbox):
    """The portal connected to the sandbox's UK organisation (as after the consent flow)."""
    client = sandbox.sandbox.identity.clients[CLIENT_ID]
    token = sandbox.sandbox.connect([sandbox.org.tenant_id], client=client).token
    connection = XeroConnection(
        tenant_id=sandbox.org.tenant_id,
        tenant_name=sandbox.org.name,
        status=ConnectionStatus.ACTIVE,
        connected_by_id=admin.id,
    )
    store_tokens(connection, token, app.extensions["secret_box"], utcnow())
    db.add(connection)
    db.flush()
    return connection


@pytest.fixture
def rates(db):
    """Local rates: four used by services, one nobody uses."""
    made = {
        "standard": factories.TaxRateFactory(name="Standard", rate_percent=Decimal(20)),
        "reduced": factories.TaxRateFactory(name="Reduced", rate_percent=Decimal(5)),
        "zero": factories.TaxRateFactory(name="Zero rated", rate_percent=Decimal(0)),
        "exempt": factories.TaxRateFactory(name="Exempt", rate_percent=Decimal(0)),
    }
    for key, rate in made.items():
        factories.ServiceFactory(code=f"SVC-{key.upper()}", tax_rate=rate)
    factories.TaxRateFactory(name="Unused", rate_percent=Decimal("17.5"))
    db.flush()
    return made


def good_form(sandbox, rates) -> dict:
    theme = theme_named(sandbox, "Standard")
    return {
        "default_sales_account": "200",
        "payments_account": "090",
        "branding_theme_id": theme.branding_theme_id,
        "sync_client_names": "y",
        f"tax_type_{rates['standard'].id}": "OUTPUT2",
        f"tax_type_{rates['reduced'].id}": "RROUTPUT",
        f"tax_type_{rates['zero'].id}": "ZERORATEDOUTPUT",
        f"tax_type_{rates['exempt'].id}": "EXEMPTOUTPUT",
    }


def theme_named(sandbox, name):
    return next(t for t in sandbox.org.branding_themes.values() if t.name == name)


def options(page: str, name: str) -> dict[str, str]:
    """value -> label of a <select>'s options."""
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, name
    return dict(re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html[1]))


def selected(page: str, name: str) -> str:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    found = re.search(
        r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select_html[1]
    )
    return (found[1] or found[2]) if found else ""


def nothing_saved(db) -> bool:
    return db.scalar(select(XeroSettings)) is None and db.scalar(select(TaxRateMapping)) is None


def refused(admin_client, db, form: dict) -> str:
    """Post the settings form; it must be refused with nothing saved. Returns the page."""
    response = admin_client.post_form(URL, form)
    assert response.status_code == 422
    assert nothing_saved(db)
    return response.data.decode()


# -- the page ---------------------------------------------------------------------------------


def test_settings_need_a_connection(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/xero"
    assert any("Connect to Xero first" in m for m in flashes(admin_client))


def test_settings_page_lists_the_sandboxs_accounts_themes_and_tax_rates(
    admin_client,
    connected,
    rates,
    sandbox,
):
    # Added in Xero a moment ago: the page reads live, so it is offered at once.
    account_id = new_id()
    sandbox.org.accounts[account_id] = Account(
        account_id, "201", "Desk Rental", "REVENUE", "REVENUE", "OUTPUT2"
    )
    page = admin_client.get(URL)
    assert page.status_code == 200
    html = page.data.decode()

    sales = options(html, "default_sales_account")
    assert sales["200"] == "200 – Sales"
    assert sales["201"] == "201 – Desk Rental"
    assert {"260", "270"} <= set(sales)
    assert not {"090", "400", "610", "615"} & set(sales)
    assert selected(html, "default_sales_account") == "200"

    payments = options(html, "payments_account")
    assert payments["090"] == "090 – Business Bank Account (bank)"
    assert payments["615"] == "615 – Card Payments Clearing (payments enabled)"
    assert not {"200", "610"} & set(payments)

    themes = options(html, "branding_theme_id")
    assert set(themes.values()) >= {"Standard", "Special Projects"}

    standard = options(html, f"tax_type_{rates['standard'].id}")
    assert standard["OUTPUT2"] == "20% (VAT on Income) – OUTPUT2"
    assert {"RROUTPUT", "ZERORATEDOUTPUT", "EXEMPTOUTPUT", "NONE"} <= set(standard)
    assert "INPUT2" not in standard  # a purchase rate cannot go on a sales invoice

    # Only the rates services use, prefilled from Xero's rates and the UK defaults.
    assert "Unused" not in html
    assert selected(html, f"tax_type_{rates['standard'].id}") == "OUTPUT2"
    assert selected(html, f"tax_type_{rates['reduced'].id}") == "RROUTPUT"
    assert selected(html, f"tax_type_{rates['zero'].id}") == "ZERORATEDOUTPUT"
    assert selected(html, f"tax_type_{rates['exempt'].id}") == "EXEMPTOUTPUT"
    assert "SVC-STANDARD" in html
    assert 'data-testid="payment-service-warning"' not in html


def test_loading_records_the_successful_call(admin_client, connected, db):
    assert connected.last_success_at is None
    admin_client.get(URL)
    assert db.get(XeroConnection, connected.id).last_success_at is not None


# -- saving -----------------------------------------------------------------------------------


def test_saving_good_settings(admin_client, connected, rates, db, sandbox):
    form = good_form(sandbox, rates)
    response = admin_client.post_form(URL, form)
    assert response.status_code == 302, response.data
    assert flashes(admin_client) == ["Xero settings saved."]

    settings = db.scalar(select(XeroSettings))
    assert settings.tenant_id == sandbox.org.tenant_id
    assert settings.country == "GB"
    assert settings.base_currency == "GBP"
    assert settings.default_sales_account == "200"
    assert settings.payments_account == "090"
    assert settings.branding_theme_id == form["branding_theme_id"]
    assert settings.branding_theme_has_payment_service is True
    assert settings.sync_client_names is True
    mappings = {m.tax_rate_id: m.tax_type for m in db.scalars(select(TaxRateMapping))}
    assert mappings == {
        rates["standard"].id: "OUTPUT2",
        rates["reduced"].id: "RROUTPUT",
        rates["zero"].id: "ZERORATEDOUTPUT",
        rates["exempt"].id: "EXEMPTOUTPUT",
    }

    # Saved values come back on the page; changing one updates, never duplicates.
    html = admin_client.get(URL).data.decode()
    assert selected(html, "payments_account") == "090"
    assert re.search(r'<input checked[^>]*name="sync_client_names"', html)
    form["payments_account"] = "615"
    del form["sync_client_names"]  # an unticked checkbox is not posted
    assert admin_client.post_form(URL, form).status_code == 302
    db.expire_all()
    settings = db.scalar(select(XeroSettings))
    assert (settings.payments_account, settings.sync_client_names) == ("615", False)
    assert len(list(db.scalars(select(TaxRateMapping)))) == 4


def invalid(key, value, expected):
    return pytest.param(key, value, expected, id=f"{key}={value}")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        invalid("default_sales_account", "999", "Xero has no account with code &#39;999&#39;"),
        invalid("default_sales_account", "400", "400 – Advertising is not an active revenue"),
        invalid("default_sales_account", "090", "is not an active revenue account"),
        invalid("default_sales_account", "", "Xero has no account with code &#39;&#39;"),
        invalid("payments_account", "200", "200 – Sales cannot take payments"),
        invalid("payments_account", "777", "Xero has no account with code &#39;777&#39;"),
        invalid("branding_theme_id", "not-a-theme", "Xero has no such branding theme"),
        invalid("standard", "NOSUCHTAX", "Xero has no active sales tax rate &#39;NOSUCHTAX&#39;"),
        invalid("standard", "INPUT2", "Xero has no active sales tax rate &#39;INPUT2&#39;"),
        invalid("standard", "", "Choose the Xero tax rate for Standard (20%)"),
        invalid(
            "standard",
            "RROUTPUT",
            "5% (VAT on Income) in Xero is 5%, but Standard is 20%",
        ),
        invalid("reduced", "OUTPUT2", "in Xero is 20%, but Reduced is 5%"),
        invalid("exempt", "OUTPUT2", "in Xero is 20%, but Exempt is 0%"),
    ],
)
def test_each_invalid_choice_is_refused_and_nothing_saved(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
    key,
    value,
    expected,
):
    form = good_form(sandbox, rates)
    form[f"tax_type_{rates[key].id}" if key in rates else key] = value
    html = refused(admin_client, db, form)
    assert expected in html
    assert "Nothing was saved" in html


def test_a_refused_save_keeps_the_settings_saved_before(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
):
    form = good_form(sandbox, rates)
    assert admin_client.post_form(URL, form).status_code == 302
    bad = {**form, "payments_account": "200", f"tax_type_{rates['standard'].id}": "RROUTPUT"}
    assert admin_client.post_form(URL, bad).status_code == 422
    db.expire_all()
    assert db.scalar(select(XeroSettings)).payments_account == "090"
    mapping = db.get(TaxRateMapping, rates["standard"].id)
    assert mapping.tax_type == "OUTPUT2"


def test_tax_type_that_xero_refuses_on_a_services_account(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
):
    # A service posting standard-rated sales to an expense account: Xero answers
    # "The TaxType code 'OUTPUT2' cannot be used with account code '400'".
    factories.ServiceFactory(code="ADS", sales_account_code="400", tax_rate=rates["standard"])
    db.flush()
    assert "Xero does not allow 20% (VAT on Income) (OUTPUT2) on account 400 – Advertising" in (
        refused(admin_client, db, good_form(sandbox, rates))
    )


def test_tax_type_that_cannot_be_used_on_the_default_sales_account(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
):
    # A revenue-type account in a class the sales rates do not apply to: Xero's
    # CanApplyTo... flags (which the sandbox enforces on invoices) rule it out.
    sandbox.org.account_by_code("260").account_class = "EQUITY"
    assert "Xero does not allow Exempt Income (EXEMPTOUTPUT) on account 260" in (
        refused(admin_client, db, {**good_form(sandbox, rates), "default_sales_account": "260"})
    )


def test_service_posting_to_a_bank_account_is_refused(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
):
    factories.ServiceFactory(code="BANKED", sales_account_code="090", tax_rate=rates["zero"])
    db.flush()
    assert "post to account 090, which Xero does not accept on invoice lines" in (
        refused(admin_client, db, good_form(sandbox, rates))
    )


# -- the payment service ----------------------------------------------------------------------


def test_theme_without_payment_service_warns(admin_client, connected, rates, db, sandbox):
    plain = theme_named(sandbox, "Special Projects")
    form = {**good_form(sandbox, rates), "branding_theme_id": plain.branding_theme_id}
    response = admin_client.post_form(URL, form)
    assert response.status_code == 302
    messages = flashes(admin_client)
    assert messages[0] == "Xero settings saved."
    assert "set up a payment service in Xero first" in messages[1]
    settings = db.scalar(select(XeroSettings))
    assert settings.branding_theme_id == plain.branding_theme_id
    assert settings.branding_theme_has_payment_service is False

    html = admin_client.get(URL).data.decode()
    assert 'data-testid="payment-service-warning"' in html
    assert "Special Projects has no payment service" in html

    # Once a payment service is linked in Xero, the warning goes.
    sandbox.sandbox.attach_payment_service(sandbox.org.tenant_id, plain.branding_theme_id)
    html = admin_client.get(URL).data.decode()
    assert 'data-testid="payment-service-warning"' not in html


# -- Xero errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (503, "Xero answered 503"),
        (401, "Xero refused the connection (401)"),
        (429, "limit reached; retry in"),
    ],
)
def test_xero_errors_while_loading_are_shown_not_500(
    admin_client,
    connected,
    rates,
    db,
    sandbox,
    status,
    expected,
):
    sandbox.sandbox.faults.add("status", 1, path="/api.xro/2.0/Accounts", status=status)
    page = admin_client.get(URL)
    assert page.status_code == 200
    html = page.data.decode()
    assert 'data-testid="xero-error"' in html
    assert "Xero could not be read" in html
    assert expected in html
    connection = db.get(XeroConnection, connected.id)
    assert expected in connection.last_failure

    sandbox.sandbox.faults.add("status", 1, path="/api.xro/2.0/Accounts", status=status)
    assert "Xero could not be read" in refused(admin_client, db, good_form(sandbox, rates))
    sandbox.sandbox.contract_violations.clear()  # the injected faults are not Xero's shape


def test_a_failed_xero_call_on_a_post_stays_on_record(
    admin_client,
    connected,
    rates,
    db,
    sandbox,  # noqa: F811
):
    """The form saves nothing, but the connection's health panel shows the failure."""
    sandbox.sandbox.faults.add("status", 1, path="/api.xro/2.0/Accounts", status=503)
    response = admin_client.post_form(URL, good_form(sandbox, rates))
    assert response.status_code == 422
    assert nothing_saved(db)
    db.expire_all()
    assert "Xero answered 503" in db.get(XeroConnection, connected.id).last_failure
    sandbox.sandbox.contract_violations.clear()  # the injected fault is not Xero's shape


def test_portal_rate_limit_is_shown_not_500(app, admin_client, connected, rates):
    app.extensions["xero"].per_minute = 0
    page = admin_client.get(URL)
    assert page.status_code == 200
    assert "minute limit reached" in page.data.decode()


# -- country defaults -------------------------------------------------------------------------


def ledger_for(country: str, *rates: tuple[str, str, str]) -> settings_sync.Ledger:
    return settings_sync.Ledger(
        organisation_name="Org",
        country=country,
        base_currency="",
        accounts=[],
        tax_rates=[
            settings_sync.XeroTaxRate(code, name, Decimal(rate), "ACTIVE", frozenset({"REVENUE"}))
            for code, name, rate in rates
        ],
        themes=[],
    )


def local(name: str, rate: str):
    return TaxRate(id=1, name=name, rate_percent=Decimal(rate))


@pytest.mark.parametrize(
    ("country", "name", "rate", "expected"),
    [
        ("AU", "GST", "10", "OUTPUT"),
        ("AU", "GST free", "0", "EXEMPTOUTPUT"),
        ("AU", "BAS excluded", "0", "BASEXCLUDED"),
        ("NZ", "GST", "15", "OUTPUT2"),
        ("NZ", "Zero rated", "0", "ZERORATED"),
        ("NZ", "Exempt", "0", "NONE"),
        ("ZA", "VAT", "15", "OUTPUT"),
        ("ZA", "Zero rated", "0", "ZERORATEDOUTPUT"),
        ("ZA", "Exempt", "0", "EXEMPTOUTPUT"),
        ("GB", "VAT", "20", "OUTPUT2"),
        ("GB", "Reduced", "5", "RROUTPUT"),
        ("GB", "Zero", "0", "ZERORATEDOUTPUT"),
        ("GB", "Exempt", "0", "EXEMPTOUTPUT"),
    ],
)
def test_country_defaults_match_the_sandboxs_rates(country, name, rate, expected):
    """Each country's seeded organisation, as Xero lists it, gets the documented default."""
    from xero_sandbox import Sandbox

    org = Sandbox(rate_limits=False).add_organisation("Org", country=country)
    ledger = ledger_for(
        country,
        *[
            (r.tax_type, r.name, str(r.rate))
            for r in org.tax_rates.values()
            if "REVENUE" in r.applies_to
        ],
    )
    assert settings_sync.suggest_tax_type(ledger, local(name, rate)) == expected


def test_defaults_try_the_newer_south_african_code_first():
    ledger = ledger_for("ZA", ("OUTPUT", "Old Standard Rate", "14"), ("OUTPUT3", "Standard", "15"))
    assert settings_sync.suggest_tax_type(ledger, local("VAT", "15")) == "OUTPUT3"
    assert tax_defaults.defaults_for("UK") == tax_defaults.defaults_for("GB")


def test_no_suggestion_when_xero_has_no_rate_at_that_percentage():
    ledger = ledger_for("GB", ("OUTPUT2", "20% (VAT on Income)", "20"))
    assert settings_sync.suggest_tax_type(ledger, local("Odd", "12.5")) == ""


# -- production wiring ------------------------------------------------------------------------


def test_settings_page_on_a_real_engine(fresh_database_url, sandbox):
    """Without the test's shared session: the request's session and the rate limiter's own
    transactions use separate connections, as in production. On SQLite a read transaction
    left open across the Xero calls would hold the write lock the limiter needs."""
    from sqlalchemy.orm import Session as OrmSession

    from portal import migrations
    from tests.conftest import login, make_test_app

    url = fresh_database_url("xero_settings")
    migrations.upgrade(url)
    sandbox.sandbox.register_client("REALENGINE", "secret", redirect_uris=None)
    app = make_test_app(
        url,
        XERO_BASE_URL=sandbox.url,
        XERO_CLIENT_ID="REALENGINE",
        XERO_CLIENT_SECRET="secret",
    )
    engine = app.extensions["db_engine"]
    try:
        with OrmSession(engine, expire_on_commit=False) as db:
            factories.bind(db)
            admin = factories.AdminFactory()
            factories.ServiceFactory(tax_rate=factories.TaxRateFactory(rate_percent=Decimal(20)))
            token = sandbox.sandbox.connect(
                [sandbox.org.tenant_id], client=sandbox.sandbox.identity.clients["REALENGINE"]
            ).token
            connection = XeroConnection(
                tenant_id=sandbox.org.tenant_id, tenant_name="Coworking Ltd", connected_by=admin
            )
            store_tokens(connection, token, app.extensions["secret_box"], utcnow())
            db.add(connection)
            db.commit()
            email = admin.email
        client = app.test_client()
        assert login(client, email).status_code == 302
        page = client.get(URL)
        assert page.status_code == 200
        html = page.data.decode()
        assert "200 – Sales" in html
        assert 'data-testid="xero-error"' not in html
        with OrmSession(engine) as db:
            assert db.scalar(select(XeroConnection.last_success_at)) is not None
    finally:
        engine.dispose()
