"""localstripe for the tests: a stand-in for Stripe's API, run as a separate process.

localstripe is GPL, so it is only ever run (never imported). It keeps its state in
/tmp/localstripe.pickle, hence one per test session, started from scratch on a free port.
It ignores Idempotency-Key and sends no charge or refund events: tests that need those build
signed events themselves (``signed_event``) and post them to /webhooks/stripe.

Import the fixtures into a conftest or test module: ``from tests.localstripe import ...``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

SECRET_KEY = "sk_test_localstripe_portal"
PUBLISHABLE_KEY = "pk_test_localstripe_portal"
WEBHOOK_SECRET = "whsec_test_localstripe_portal"

#: Cards that localstripe understands (Stripe's documented test numbers).
CARD_OK = "4242424242424242"
#: Attaches fine, declined when charged.
CARD_DECLINED_ON_CHARGE = "4000000000000341"
#: Needs 3-D Secure for the setup and the payment.
CARD_3DS = "4000002500003155"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _executable() -> str:
    beside = Path(sys.executable).parent / "localstripe"
    return str(beside) if beside.exists() else (shutil.which("localstripe") or "")


@dataclass(frozen=True)
class LocalStripe:
    url: str

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def api(self, method: str, path: str, **data: Any) -> Any:
        """Call localstripe's API directly (form-encoded, like Stripe's own clients)."""
        response = requests.request(
            method,
            f"{self.url}{path}",
            data=_form(data) if method != "GET" else None,
            params=_form(data) if method == "GET" else None,
            auth=(SECRET_KEY, ""),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def payment_intents(self) -> list[dict]:
        # localstripe has no cap on the page size (Stripe's is 100).
        return self.api("GET", "/v1/payment_intents", limit=100_000)["data"]

    def payment_intents_for(self, invoice_id: int, since: set[str] = frozenset()) -> list[dict]:
        """The PaymentIntents naming this invoice id, leaving out the ids in ``since``
        (localstripe lives for the whole session; SQLite reuses rolled-back ids)."""
        return [
            pi
            for pi in self.payment_intents()
            if pi["metadata"].get("portal_invoice_id") == str(invoice_id) and pi["id"] not in since
        ]

    def card_payment_method(self, number: str = CARD_OK) -> str:
        """A PaymentMethod as Stripe.js would make it, through a confirmed SetupIntent."""
        setup = self.api("POST", "/v1/setup_intents", usage="on_session")
        confirmed = requests.post(
            f"{self.url}/v1/setup_intents/{setup['id']}/confirm",
            json={
                "key": PUBLISHABLE_KEY,
                "client_secret": setup["client_secret"],
                "payment_method_data": {
                    "type": "card",
                    "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
                },
            },
            timeout=10,
        )
        confirmed.raise_for_status()
        return confirmed.json()["payment_method"]

    def authenticate(self, payment_intent_id: str, client_secret: str, success: bool = True):
        """Finish 3-D Secure as the member would in Stripe.js's dialog."""
        response = requests.post(
            f"{self.url}/v1/payment_intents/{payment_intent_id}/_authenticate",
            params={"success": "true" if success else "false"},
            json={"key": PUBLISHABLE_KEY, "client_secret": client_secret},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def refund(self, payment_intent_id: str, amount: int | None = None) -> dict:
        data: dict[str, Any] = {"payment_intent": payment_intent_id}
        if amount is not None:
            data["amount"] = amount
        return self.api("POST", "/v1/refunds", **data)

    def send_webhooks_to(self, url: str, secret: str = WEBHOOK_SECRET, name: str = "portal"):
        response = requests.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=10
        )
        response.raise_for_status()


def _form(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            flat.update(_form(value, name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                flat[f"{name}[{i}]"] = item
        else:
            flat[name] = value
    return flat


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory) -> LocalStripe:
    executable = _executable()
    if not executable:
        if os.environ.get("CI"):
            pytest.fail("localstripe is not installed (pip install -e .[dev])", pytrace=False)
        pytest.skip("localstripe is not installed (pip install -e .[dev])")
    port = _free_port()
    log = (tmp_path_factory.mktemp("localstripe") / "localstripe.log").open("w")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                requests.get(f"{url}/js.stripe.com/v3/", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"localstripe did not start; see {log.name}") from None
                time.sleep(0.1)
        yield LocalStripe(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def new_intents(localstripe):
    """``new_intents(invoice_id)``: the PaymentIntents this test created for that invoice."""
    before = {pi["id"] for pi in localstripe.payment_intents()}
    return lambda invoice_id: localstripe.payment_intents_for(invoice_id, since=before)


def stripe_app_settings(localstripe: LocalStripe) -> dict[str, Any]:
    """App settings that point the portal at localstripe with the test keys."""
    return {
        "STRIPE_API_BASE": localstripe.url,
        "STRIPE_JS_URL": localstripe.js_url,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def signature_header(body: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Stripe's documented scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_body(event_type: str, obj: dict, event_id: str | None = None) -> str:
    """A Stripe event carrying ``obj`` (whose copy the portal must not trust)."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    )
