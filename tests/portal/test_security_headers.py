"""Security headers on every answer: a CSP that runs no inline script and allows exactly
Stripe.js's origins (or the configured stand-in's), no framing, nosniff, same-origin
referrers, HSTS with secure cookies, and no-store on every page (static files excepted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import resources
from tests.factories import make_invoice


def csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";"))}


def assert_hardened(response) -> None:
    policy = csp(response)
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_member_page(db, member, member_client):
    invoice = make_invoice(db, member.customer)
    response = member_client.get(f"/invoices/{invoice.id}")
    assert response.status_code == 200
    assert_hardened(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_an_admin_page(admin_client):
    response = admin_client.get("/admin/customers")
    assert response.status_code == 200
    assert_hardened(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_public_answers_and_errors(client):
    for response in (client.get("/login"), client.get("/no-such-page"), client.get("/healthz")):
        assert_hardened(response)
        assert response.headers["Cache-Control"] == "no-store"
    webhook = client.post("/webhooks/xero", data=b"{}")
    assert_hardened(webhook)


def test_stripe_js_is_the_only_outside_script_origin(client):
    policy = csp(client.get("/login"))
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://hooks.stripe.com" in policy["frame-src"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]


class TestAStripeStandIn:
    @pytest.fixture
    def app_settings(self):
        return {
            "STRIPE_JS_URL": "http://127.0.0.1:8420/js.stripe.com/v3/",
            "STRIPE_API_BASE": "http://127.0.0.1:8420",
        }

    def test_its_origin_replaces_stripes(self, client):
        policy = csp(client.get("/login"))
        assert policy["script-src"] == ["'self'", "http://127.0.0.1:8420"]
        assert "stripe.com" not in " ".join(policy["frame-src"] + policy["connect-src"])


def test_forms_may_lead_only_here_or_to_xeros_sign_in(client):
    """Connect to Xero is a form post answered with a redirect to Xero's sign-in page,
    which Chromium checks against form-action."""
    assert csp(client.get("/login"))["form-action"] == ["'self'", "https://login.xero.com"]


class TestAXeroStandIn:
    @pytest.fixture
    def app_settings(self):
        return {"XERO_BASE_URL": "http://127.0.0.1:5001"}

    def test_its_sign_in_is_the_form_action(self, client):
        assert csp(client.get("/login"))["form-action"] == ["'self'", "http://127.0.0.1:5001"]


def test_no_hsts_over_plain_http_settings(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


class TestSecureCookies:
    @pytest.fixture
    def app_settings(self):
        return {"SESSION_COOKIE_SECURE": True}

    def test_hsts_is_sent(self, client):
        assert (
            client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")
        )


def test_static_files_stay_cacheable(client):
    response = client.get("/static/js/page.js")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert_hardened(response)


def test_no_template_has_an_inline_script_or_handler():
    """What the CSP would refuse at run time, caught in the source: every <script> has a
    src or is a JSON data block, and no element has an on...= handler attribute."""
    templates = Path(resources.resource_dir("templates"))
    offenders = []
    for path in templates.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.name}: {tag}")
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text, re.I)]
        offenders += [f"{path.name}: {m}" for m in re.findall(r"javascript:", text, re.I)]
    assert offenders == []
