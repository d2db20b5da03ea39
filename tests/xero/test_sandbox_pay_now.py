""" "Pay now" on the sandbox's online invoice behaves like Xero's linked Stripe service: the
payment with a gateway reference, the fee as spend money, the invoice's amounts and status,
and Xero's signed INVOICE webhook, which the portal verifies, stores and acts on."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import yaml
from flask import Flask, request
from jsonschema import Draft202012Validator

from tests.xero.payments_env import PaymentEnv
from xero.sync.inbound import webhook
from xero_sandbox import serve_in_thread
from xero_sandbox.contract import default_spec_dir

from .builders import create_contact, create_invoice, get_invoice, pay
from .conftest import WEBHOOK_KEY, http

KEY = WEBHOOK_KEY


@pytest.fixture
def invoice_120(accounting_api):
    contact = create_contact(accounting_api)
    return create_invoice(accounting_api, contact.contact_id)  # 100 + 20% VAT, Stripe theme


@pytest.fixture
def receiver():
    """A stand-in app that records what the sandbox posts to it."""
    received: list[tuple[bytes, dict]] = []
    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        received.append((request.get_data(), dict(request.headers)))
        return "", 200

    url, stop = serve_in_thread(app)
    yield f"{url}/hook", received
    stop()


def pay_now_json(sandbox, invoice_id, **body):
    return http().request(
        "POST", f"{sandbox.url}/_sandbox/invoices/{invoice_id}/pay", json=body, redirect=False
    )


def test_pay_now_in_full_from_the_online_page(sandbox, accounting_api, invoice_120):
    page_url = f"{sandbox.url}/_sandbox/invoices/{invoice_120.invoice_id}/online"
    page = http().request("GET", page_url).data.decode()
    assert "Pay now with card" in page and 'name="amount"' in page
    service_id = re.search(r'name="service" value="([^"]+)"', page).group(1)

    answer = http().request_encode_body(
        "POST",
        f"{sandbox.url}/_sandbox/invoices/{invoice_120.invoice_id}/pay",
        fields={"amount": "120.00", "service": service_id},
        encode_multipart=False,
        redirect=False,
    )
    assert answer.status == 303
    assert "paid=ch_" in answer.headers["Location"]

    paid = get_invoice(accounting_api, invoice_120.invoice_id)
    assert (paid.status, paid.amount_paid, paid.amount_due) == (
        "PAID",
        Decimal("120.00"),
        Decimal("0.00"),
    )
    [payment] = paid.payments
    assert payment.reference.startswith("ch_")
    [kept] = sandbox.org.payments.values()
    assert sandbox.org.accounts[kept.account_id].code == "090"
    assert sandbox.org.invoices[invoice_120.invoice_id.lower()].history[-1].user == "Stripe"
    after = http().request("GET", page_url).data.decode()
    assert "Paid in full" in after and "Pay now with card" not in after


def test_the_fee_is_kept_as_spend_money(sandbox, invoice_120):
    answer = pay_now_json(sandbox, invoice_120.invoice_id)
    assert answer.status == 201
    paid = answer.json()
    assert Decimal(str(paid["fee"])) == Decimal("2.00")  # 1.5% of 120.00 + 0.20
    listed = http().request(
        "GET", f"{sandbox.url}/_sandbox/organisations/{sandbox.org.tenant_id}/bank-transactions"
    )
    [fee] = listed.json()["BankTransactions"]
    assert (fee["Type"], fee["BankAccount"]["Code"], fee["Status"]) == (
        "SPEND",
        "090",
        "AUTHORISED",
    )
    assert fee["LineItems"][0]["AccountCode"] == "404"  # Bank Fees
    assert fee["Reference"] == paid["reference"]
    assert Decimal(str(fee["Total"])) == Decimal("2.00")


def test_part_payments_then_the_rest(sandbox, accounting_api, invoice_120):
    first = pay_now_json(sandbox, invoice_120.invoice_id, amount="20.00")
    assert first.status == 201
    assert (first.json()["invoiceStatus"], first.json()["amountDue"]) == ("AUTHORISED", 100.0)
    too_much = pay_now_json(sandbox, invoice_120.invoice_id, amount="100.01")
    assert too_much.status == 400
    assert "exceeds the amount outstanding" in too_much.json()["error"]
    rest = pay_now_json(sandbox, invoice_120.invoice_id)  # no amount: all that is due
    assert rest.json()["invoiceStatus"] == "PAID"
    invoice = get_invoice(accounting_api, invoice_120.invoice_id)
    assert [p.amount for p in invoice.payments] == [Decimal("20.00"), Decimal("100.00")]


def test_pay_now_needs_a_payment_service_and_an_open_invoice(sandbox, accounting_api):
    plain = next(t for t in sandbox.org.branding_themes.values() if not t.payment_services)
    contact = create_contact(accounting_api)
    invoice = create_invoice(
        accounting_api, contact.contact_id, branding_theme_id=plain.branding_theme_id
    )
    page = http().request("GET", f"{sandbox.url}/_sandbox/invoices/{invoice.invoice_id}/online")
    assert "No online payment service" in page.data.decode()
    assert pay_now_json(sandbox, invoice.invoice_id).status == 400

    draft = create_invoice(accounting_api, contact.contact_id, status="DRAFT")
    assert pay_now_json(sandbox, draft.invoice_id).status == 400
    assert pay_now_json(sandbox, "00000000-0000-0000-0000-00000000beef").status == 404
    assert pay_now_json(sandbox, draft.invoice_id, amount="ten").status == 400


def test_pay_now_sends_xero_s_signed_invoice_webhook(sandbox, invoice_120, receiver):
    url, received = receiver
    sandbox.sandbox.webhook_url, sandbox.sandbox.webhook_key = url, KEY
    pay_now_json(sandbox, invoice_120.invoice_id, amount="20.00")
    assert sandbox.sandbox.webhooks.wait(5)

    [(body, headers)] = received
    assert webhook.verify(body, headers["X-Xero-Signature"], KEY)
    [event] = webhook.parse(body)
    assert (event.category, event.event_type) == ("INVOICE", "UPDATE")
    assert event.resource_id == invoice_120.invoice_id.lower()
    assert event.tenant_id == sandbox.org.tenant_id
    assert sandbox.sandbox.webhooks.deliveries[-1].status == 200


def test_the_webhook_payload_has_xero_s_documented_shape(sandbox, invoice_120, receiver):
    spec_file = default_spec_dir() / "xero-webhooks.yaml"
    if not spec_file.is_file():
        pytest.skip(f"no Xero webhooks description at {spec_file}")
    schema = yaml.safe_load(spec_file.read_text())["components"]["schemas"]["WebhookEvent"]
    url, received = receiver
    sandbox.sandbox.webhook_url, sandbox.sandbox.webhook_key = url, KEY
    pay_now_json(sandbox, invoice_120.invoice_id)
    sandbox.sandbox.webhooks.wait(5)
    [(body, _)] = received
    payload = sandbox.sandbox.webhooks.deliveries[-1].payload()
    assert payload == json.loads(body)
    errors = list(Draft202012Validator(schema).iter_errors(payload))
    assert errors == []
    assert payload["firstEventSequence"] >= 1 and len(payload["entropy"]) == 20


def test_changes_through_the_api_send_webhooks_too(accounting_api, sandbox, receiver):
    url, received = receiver
    sandbox.sandbox.webhook_url, sandbox.sandbox.webhook_key = url, KEY
    contact = create_contact(accounting_api)
    invoice = create_invoice(accounting_api, contact.contact_id)
    pay(accounting_api, invoice.invoice_id, "10.00")
    sandbox.sandbox.webhooks.wait(5)
    kinds = [
        (e["eventType"], e["resourceId"])
        for body, _ in received
        for e in json.loads(body)["events"]
    ]
    assert kinds == [
        ("CREATE", invoice.invoice_id.lower()),
        ("UPDATE", invoice.invoice_id.lower()),
    ]


def test_a_failed_delivery_is_recorded_not_raised(sandbox, invoice_120):
    sandbox.sandbox.webhook_url, sandbox.sandbox.webhook_key = "http://127.0.0.1:9/hook", KEY
    assert pay_now_json(sandbox, invoice_120.invoice_id).status == 201
    assert sandbox.sandbox.webhooks.wait(10)
    delivery = sandbox.sandbox.webhooks.deliveries[-1]
    assert delivery.status is None and delivery.error
    listed = http().request("GET", f"{sandbox.url}/_sandbox/webhooks").json()
    assert listed["deliveries"][-1]["error"] == delivery.error


# -- into the portal -----------------------------------------------------------------------


@pytest.fixture
def env_class():
    return PaymentEnv


def test_pay_now_reaches_the_portal_through_the_signed_webhook(env, portal_webhooks):
    invoice_id = env.issue_in_xero()  # 89.82
    env.sandbox.webhooks.wait(5)
    runner = env.runner()
    runner.drain()  # the invoice's own CREATE/UPDATE events, a first pull: nothing to record

    answer = pay_now_json(env.served, env.link(invoice_id).xero_invoice_id)
    assert answer.status == 201
    assert env.sandbox.webhooks.wait(5)
    assert env.sandbox.webhooks.deliveries[-1].status == 200
    assert env.events()[-1].status == "pending"

    runner.drain()  # the next pull is minutes away: the webhook's event does it

    invoice = env.invoice(invoice_id)
    assert invoice.status == "paid"
    [payment] = env.payments(invoice_id)
    assert (payment.source, payment.method) == ("xero", "xero")
    assert payment.reference == answer.json()["reference"] and payment.reference.startswith("ch_")
    assert payment.xero_payment_id.lower() == answer.json()["paymentId"].lower()
    assert {e.status for e in env.events()} == {"done"}
    assert env.payment_jobs() == []


def test_a_webhook_signed_with_another_key_is_refused_by_the_portal(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    env.sandbox.webhooks.wait(5)
    events_before = len(env.events())
    env.sandbox.webhook_key = "not the portal's key"
    pay_now_json(env.served, env.link(invoice_id).xero_invoice_id, amount="10.00")
    env.sandbox.webhooks.wait(5)
    assert env.sandbox.webhooks.deliveries[-1].status == 401
    assert len(env.events()) == events_before
    # The poller still brings the payment in.
    env.pull()
    assert env.invoice(invoice_id).amount_paid == Decimal("10.00")
