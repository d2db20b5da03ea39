"""Who may see every route of the portal.

``ROUTES`` classifies every endpoint of the app; ``test_every_route_is_classified`` fails when
a route is added without a line here, so no route is ever left out of these checks.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from billing.inbox import InboundEvent
from billing.invoices.model import Invoice
from billing.invoices.operations import delete_draft
from billing.payments.operations import record_payment
from billing.payments.overpayments import Overpayment
from billing.recurring.charges import ChargeDetails, add_charge
from billing.recurring.model import Membership
from tests import factories
from tests.conftest import login
from tests.factories import make_invoice
from xero.models import JobKind
from xero.sync import outbox

ADMIN = "admin"  # /admin/...: admins only (blueprint before_request)
MEMBER = "member"  # a member's own company data; admins are sent to /admin/
ADMIN_ACCOUNT = "admin account"  # an admin's own account settings; members get 404
SIGNED_IN = "signed in"  # any signed-in user
OWN_ACCOUNT = "own account"  # any signed-in user's own account settings
PUBLIC = "public"  # no sign-in needed
MEMBER_ACTION = "member action"  # a member's POST on their own invoice (answers vary)
WEBHOOK = "webhook"  # servers, not browsers: no sign-in or CSRF, a signature instead

ROUTES = {
    "admin.home": ADMIN,
    "admin.customers": ADMIN,
    "admin.new_customer": ADMIN,
    "admin.search_customers_json": ADMIN,
    "admin.customer": ADMIN,
    "admin.edit_customer": ADMIN,
    "admin.add_member": ADMIN,
    "admin.add_membership": ADMIN,
    "admin.billing_run": ADMIN,
    "admin.add_pending_charge": ADMIN,
    "admin.end_membership_page": ADMIN,
    "admin.remove_pending_charge": ADMIN,
    "admin.invoices": ADMIN,
    "admin.new_invoice": ADMIN,
    "admin.invoice": ADMIN,
    "admin.edit_invoice": ADMIN,
    "admin.issue": ADMIN,
    "admin.invoice_accounts": ADMIN,
    "admin.void": ADMIN,
    "admin.delete": ADMIN,
    "admin.services": ADMIN,
    "admin.new_service": ADMIN,
    "admin.edit_service": ADMIN,
    "admin.archive_service": ADMIN,
    "admin.restore_service": ADMIN,
    "admin.delete_service_view": ADMIN,
    "admin.tax_rates": ADMIN,
    "admin.toggle_tax_rate": ADMIN,
    "member.home": MEMBER,
    "member.awaiting": MEMBER,
    "member.paid": MEMBER,
    "member.invoice": MEMBER,
    "member.payments": MEMBER,
    "member.pay": MEMBER,
    "member.pay_xero": MEMBER_ACTION,  # a redirect: to Xero, or back to the invoice
    "member.pay_setup": MEMBER_ACTION,
    "member.pay_card": MEMBER_ACTION,
    "member.pay_check": MEMBER_ACTION,
    "admin.payment_settings": ADMIN,
    "admin.xero_callback": ADMIN,
    "admin.xero_connect": ADMIN,
    "admin.xero_connection": ADMIN,
    "admin.xero_remove": ADMIN,
    "admin.xero_settings": ADMIN,
    "admin.xero_tenant": ADMIN,
    "webhooks.stripe_webhook": WEBHOOK,
    "webhooks.xero_events": WEBHOOK,
    "member.receipt": MEMBER,
    "admin.money_received_report": ADMIN,
    "admin.reconcile": ADMIN,
    "admin.inbox": ADMIN,
    "admin.retry_inbound_event": ADMIN,
    "admin.needs_attention": ADMIN,
    "admin.refund_overpaid": ADMIN,
    "admin.keep_overpaid_as_credit": ADMIN,
    "admin.trial_run": ADMIN,
    "admin.trial_clean_up": ADMIN,
    "admin.sync_log": ADMIN,
    "admin.sync_job": ADMIN,
    "admin.retry_sync_job": ADMIN,
    "admin.ignore_sync_job": ADMIN,
    "admin.customer_xero": ADMIN,
    "admin.link_xero_contact": ADMIN,
    "admin.change_xero_contact_id": ADMIN,
    "admin.export_to_xero": ADMIN,
    "auth.two_factor_setup": ADMIN_ACCOUNT,
    "auth.two_factor_disable": ADMIN_ACCOUNT,
    "auth.two_factor_start": ADMIN_ACCOUNT,
    "auth.two_factor_recovery_codes": ADMIN_ACCOUNT,
    "auth.change_own_password": OWN_ACCOUNT,
    "admin.deactivate_member": ADMIN,
    "admin.reactivate_member": ADMIN,
    "admin.invite_member": ADMIN,
    "invitations.accept": PUBLIC,
    "auth.logout": SIGNED_IN,
    "auth.login": PUBLIC,
    "auth.two_factor_login": PUBLIC,
    "healthz": PUBLIC,
}

#: What an anonymous GET of a public page answers.
PUBLIC_GET = {
    "auth.login": 200,
    "healthz": 200,
    "auth.two_factor_login": 302,
    "invitations.accept": 400,  # with a made-up token
}


def rule_of(app, endpoint: str):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    assert len(rules) == 1, f"{endpoint} has {len(rules)} rules"
    return rules[0]


def methods_of(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and path_of(response) == "/login"


@pytest.fixture
def ids(db, member):
    """Real ids for every URL parameter: the member's own issued invoice, another company's."""
    own_invoice = make_invoice(db, member.customer)
    own_payment = record_payment(
        db, own_invoice, amount=Decimal("1.00"), paid_on=date.today(), method="manual"
    )
    # Money taken by card beyond what is due: held as an overpayment for an admin.
    held = record_payment(
        db,
        own_invoice,
        amount=own_invoice.total,
        paid_on=date.today(),
        method="card",
        gateway_payment_id="pi_access",
        hold_overpayment=True,
    )
    db.commit()
    overpayment_id = db.scalar(select(Overpayment.id).where(Overpayment.payment_id == held.id))
    other_customer = factories.CustomerFactory()
    service = factories.ServiceFactory()
    job = outbox.enqueue(db, JobKind.CONTACT, other_customer.id)
    plan = factories.ServiceFactory(cycle="monthly")
    membership = Membership(customer=other_customer, service=plan, starts_on=date.today())
    db.add(membership)
    charge = add_charge(
        db, other_customer.id, ChargeDetails(service.id, date.today()), today=date.today()
    )
    db.commit()
    event = InboundEvent(
        provider="xero",
        event_id="evt-access",
        event_type="INVOICE.UPDATE",
        payload="{}",
        status="failed",
        attempts=8,
    )
    db.add(event)
    db.commit()
    return {
        "event_id": event.id,
        "overpayment_id": overpayment_id,
        "job_id": job.id,
        "payment_id": own_payment.id,
        "customer_id": other_customer.id,
        "invoice_id": own_invoice.id,
        "service_id": service.id,
        "rate_id": service.tax_rate_id,
        "member_id": factories.MemberFactory(customer=other_customer).id,
        "token": "not-a-real-invitation",
        "charge_id": charge.id,
        "membership_id": membership.id,
    }


def url_of(rule, ids) -> str:
    unknown = set(rule.arguments) - set(ids)
    assert not unknown, f"no test id for URL parameters {unknown} of {rule.rule}"
    return rule.build({name: ids[name] for name in rule.arguments})[1]


def request(client, method: str, url: str, *, csrf: bool = True):
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post_form(url, {}) if csrf else client.post(url, data={})
    raise AssertionError(f"no test for method {method} of {url}")


def assert_unsigned_webhook_refused(client, url: str) -> None:
    response = client.post(url, data=b'{"events": []}', content_type="application/json")
    assert response.status_code in (400, 401), (url, response.status_code)


def test_every_route_is_classified(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    unclassified = endpoints - set(ROUTES)
    assert not unclassified, f"add these routes to ROUTES in {__file__}: {sorted(unclassified)}"
    assert not set(ROUTES) - endpoints, "ROUTES names endpoints the app does not have"


def test_admin_routes_are_exactly_those_under_admin(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        under_admin = rule.rule.startswith("/admin/")
        assert under_admin == (ROUTES[rule.endpoint] == ADMIN), rule.rule


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_anonymous(app, client, ids, endpoint):
    kind = ROUTES[endpoint]
    rule = rule_of(app, endpoint)
    url = url_of(rule, ids)
    for method in methods_of(rule):
        if kind == WEBHOOK:
            assert_unsigned_webhook_refused(client, url)
            continue
        if kind == PUBLIC:
            if method == "GET":
                assert client.get(url).status_code == PUBLIC_GET[endpoint], url
            continue
        response = request(client, method, url)
        assert is_login_redirect(response), (method, url, response.status_code)
        if method == "POST":
            response = request(client, method, url, csrf=False)
            assert response.status_code == 400, (method, url)
            assert b"Form expired" in response.data


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_member(app, member_client, ids, endpoint):
    kind = ROUTES[endpoint]
    rule = rule_of(app, endpoint)
    url = url_of(rule, ids)
    for method in methods_of(rule):
        response = request(member_client, method, url)
        if kind == ADMIN:
            assert response.status_code == 403, (method, url)
            assert request(member_client, method, url, csrf=False).status_code in (400, 403)
        elif kind == MEMBER:
            assert response.status_code == 200, (method, url)
        elif kind == MEMBER_ACTION:
            # Their own invoice: answered (an empty form is refused), never hidden or forbidden.
            assert response.status_code in (200, 302, 400, 409, 422), (method, url)
        elif kind == WEBHOOK:
            assert_unsigned_webhook_refused(member_client, url)
        elif kind == ADMIN_ACCOUNT:
            assert response.status_code == 404, (method, url)
        elif kind == OWN_ACCOUNT:
            assert response.status_code == (200 if method == "GET" else 422), (method, url)
        elif kind == SIGNED_IN:
            assert response.status_code == 302, (method, url)
        elif endpoint == "auth.login":
            assert response.status_code == 302 and path_of(response) == "/", method
        elif endpoint == "auth.two_factor_login":
            # Nothing pending: back to sign-in (which sends a signed-in member home).
            assert is_login_redirect(response), method
        else:
            assert response.status_code == PUBLIC_GET[endpoint], (method, url)


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_admin(app, admin_client, ids, endpoint):
    kind = ROUTES[endpoint]
    rule = rule_of(app, endpoint)
    url = url_of(rule, ids)
    for method in methods_of(rule):
        response = request(admin_client, method, url)
        assert response.status_code < 500, (method, url)
        if kind == ADMIN:
            assert response.status_code not in (401, 403), (method, url)
            assert not is_login_redirect(response), (method, url)
            if method == "GET":
                # 302: an action the invoice's state does not offer goes back to the invoice.
                assert response.status_code in (200, 302), url
        elif kind in (MEMBER, MEMBER_ACTION):
            assert response.status_code == 302, (method, url)
            assert path_of(response) == "/admin/", (method, url)
        elif kind == WEBHOOK:
            assert_unsigned_webhook_refused(admin_client, url)
        elif kind == ADMIN_ACCOUNT:
            assert response.status_code in (200, 302, 422), (method, url)
            assert not is_login_redirect(response), (method, url)
        elif kind == OWN_ACCOUNT:
            assert response.status_code == (200 if method == "GET" else 422), (method, url)
        elif kind == SIGNED_IN:
            assert response.status_code == 302, (method, url)
        elif endpoint == "auth.login":
            assert response.status_code == 302 and path_of(response) == "/admin/", method


@pytest.fixture
def other_company_client(app, db):
    """Signed in as a member of company B (the ``ids`` fixture's invoice is company A's)."""
    other = factories.MemberFactory()
    client = app.test_client()
    response = login(client, other.email)
    assert response.status_code == 302, response.data
    return client


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_member_of_another_company(app, db, other_company_client, ids, endpoint):
    """Company A's ids in company B's hands: not found on member pages, forbidden in admin."""
    kind = ROUTES[endpoint]
    rule = rule_of(app, endpoint)
    url = url_of(rule, ids)
    own_number = db.get(Invoice, ids["invoice_id"]).number.encode()
    for method in methods_of(rule):
        response = request(other_company_client, method, url)
        assert response.status_code < 500, (method, url)
        assert own_number not in response.data, (method, url)
        names_an_id = bool({"invoice_id", "payment_id"} & set(rule.arguments))
        if kind in (MEMBER, MEMBER_ACTION) and names_an_id:
            assert response.status_code == 404, (method, url)
        elif kind == ADMIN:
            assert response.status_code == 403, (method, url)


# --- a member sees only their own company's invoices, never a draft --------------------------


def test_member_sees_own_issued_invoice(db, member, member_client):
    invoice = make_invoice(db, member.customer)
    response = member_client.get(f"/invoices/{invoice.id}")
    assert response.status_code == 200
    assert invoice.number.encode() in response.data


def test_member_cannot_see_another_customers_invoice(db, member_client):
    other = make_invoice(db, factories.CustomerFactory())
    response = member_client.get(f"/invoices/{other.id}")
    assert response.status_code == 404
    assert other.number.encode() not in response.data


def test_member_cannot_see_own_draft(db, member, member_client):
    draft = make_invoice(db, member.customer, issue=False)
    assert member_client.get(f"/invoices/{draft.id}").status_code == 404


def test_member_cannot_see_own_deleted_draft(db, member, member_client):
    draft = make_invoice(db, member.customer, issue=False)
    delete_draft(db, draft)
    db.flush()
    assert member_client.get(f"/invoices/{draft.id}").status_code == 404


def test_member_unknown_invoice_is_404(member_client):
    assert member_client.get("/invoices/987654321").status_code == 404


def test_member_lists_show_only_own_invoices(db, member, member_client):
    own = make_invoice(db, member.customer)
    other = make_invoice(db, factories.CustomerFactory())
    for url in ("/", "/invoices"):
        page = member_client.get(url).data
        assert own.number.encode() in page, url
        assert other.number.encode() not in page, url


def test_admin_sees_any_invoice_in_admin(db, admin_client):
    invoice = make_invoice(db, factories.CustomerFactory())
    assert admin_client.get(f"/admin/invoices/{invoice.id}").status_code == 200
    assert admin_client.get(f"/invoices/{invoice.id}").headers["Location"] == "/admin/"


# --- health ----------------------------------------------------------------------------------


def test_healthz_needs_no_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json()["status"] == "ok"
    assert "Set-Cookie" not in response.headers
