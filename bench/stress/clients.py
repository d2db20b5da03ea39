"""The people and services of the stress run, as plain HTTP clients on loopback.

A ``Login`` signs in once through the real login form; every action then opens a new "tab"
(a ``requests.Session`` carrying the same cookies and CSRF token), so two tabs of one member,
or an admin's double click, are two concurrent requests of the same browser. Each action
returns a short outcome ("issue 302", "card processing", "paynow 400") that the run tallies.
"""

from __future__ import annotations

import re
from decimal import Decimal

import requests

from tests.localstripe import (
    CARD_OK,
    PUBLISHABLE_KEY,
    LocalStripe,
    event_body,
    signature_header,
)

TIMEOUT_S = 30
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]* value="([^"]+)"')


class SignInFailed(RuntimeError):
    pass


def _csrf(html: str) -> str:
    found = _CSRF_META.search(html) or _CSRF_INPUT.search(html)
    if found is None:
        raise SignInFailed("no CSRF token on the page")
    return found.group(1)


class Login:
    """One signed-in user of the portal."""

    def __init__(self, portal_url: str, email: str, password: str):
        self.portal_url = portal_url
        self.email = email
        browser = requests.Session()
        page = browser.get(f"{portal_url}/login", timeout=TIMEOUT_S)
        signed_in = browser.post(
            f"{portal_url}/login",
            data={"email": email, "password": password, "csrf_token": _csrf(page.text)},
            allow_redirects=False,
            timeout=TIMEOUT_S,
        )
        if signed_in.status_code != 302:
            raise SignInFailed(f"{email} could not sign in: {signed_in.status_code}")
        home = browser.get(portal_url + signed_in.headers["Location"], timeout=TIMEOUT_S)
        #: The form token of this browser's session (valid as long as the session).
        self.csrf = _csrf(home.text)
        self.cookies = {cookie.name: cookie.value or "" for cookie in browser.cookies}
        browser.close()

    def tab(self) -> requests.Session:
        tab = requests.Session()
        tab.cookies.update(self.cookies)
        return tab

    def post_form(self, path: str, **data: str) -> requests.Response:
        with self.tab() as tab:
            return tab.post(
                f"{self.portal_url}{path}",
                data={**data, "csrf_token": self.csrf},
                allow_redirects=False,
                timeout=TIMEOUT_S,
            )


def issue(admin: Login, invoice_id: int) -> str:
    """The invoice page's Issue button (its confirm form)."""
    return f"issue {admin.post_form(f'/admin/invoices/{invoice_id}/issue').status_code}"


def void(admin: Login, invoice_id: int) -> str:
    """The confirmation page's Void button."""
    return f"void {admin.post_form(f'/admin/invoices/{invoice_id}/void').status_code}"


_REFUND_LINK = re.compile(r"/admin/needs-attention/(\d+)/refund")


def overpayments_to_refund(admin: Login) -> list[int]:
    """The overpayments the Needs attention page offers to refund to the card."""
    with admin.tab() as tab:
        page = tab.get(f"{admin.portal_url}/admin/needs-attention", timeout=TIMEOUT_S)
    return sorted({int(found) for found in _REFUND_LINK.findall(page.text)})


def refund_overpayment(admin: Login, overpayment_id: int) -> str:
    """The confirmation page's Refund button."""
    path = f"/admin/needs-attention/{overpayment_id}/refund"
    return f"overpayment refund {admin.post_form(path).status_code}"


def pay_by_card(member: Login, stripe: LocalStripe, invoice_id: int, amount: Decimal) -> str:
    """What the pay page does: a SetupIntent from the portal, Stripe.js confirming the card
    with it (localstripe's confirm endpoint, with the publishable key), the PaymentMethod
    posted back to the portal, which charges it."""
    base = f"/invoices/{invoice_id}/pay"
    setup = member.post_form(f"{base}/setup", amount=f"{amount}")
    if setup.status_code != 200:
        return f"card setup {setup.status_code}"
    client_secret = setup.json()["client_secret"]
    confirmed = requests.post(
        f"{stripe.url}/v1/setup_intents/{client_secret.split('_secret')[0]}/confirm",
        json={
            "key": PUBLISHABLE_KEY,
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": CARD_OK, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            },
        },
        timeout=TIMEOUT_S,
    )
    if confirmed.status_code != 200:
        return f"card stripe-confirm {confirmed.status_code}"
    charged = member.post_form(
        f"{base}/card", amount=f"{amount}", payment_method=confirmed.json()["payment_method"]
    )
    if charged.status_code != 200:
        return f"card {charged.status_code}"
    return f"card {charged.json()['status']}"


def pay_now(sandbox_url: str, xero_invoice_id: str) -> str:
    """The online invoice's "Pay now", everything due, through the linked Stripe service."""
    paid = requests.post(
        f"{sandbox_url}/_sandbox/invoices/{xero_invoice_id}/pay", json={}, timeout=TIMEOUT_S
    )
    return f"paynow {paid.status_code}"


def post_stripe_event(portal_url: str, event_type: str, obj: dict, event_id: str) -> str:
    """One signed delivery of Stripe's event (the same id twice is a duplicate delivery)."""
    body = event_body(event_type, obj, event_id)
    answer = requests.post(
        f"{portal_url}/webhooks/stripe",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature_header(body)},
        timeout=TIMEOUT_S,
    )
    return f"stripe-event {answer.status_code}"
