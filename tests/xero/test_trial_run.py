"""The dummy-customer check, against the real chain: a test invoice goes to Xero, is paid with
the sandbox's "Pay now" (its real PaymentID) or by card through localstripe (a signed Stripe
event posted to /webhooks/stripe), and the clean-up, carried out by the worker, leaves both
ledgers agreeing: the Xero payment deleted, the card payment refunded in Stripe, the invoice
voided in Xero and here."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing import inbox
from billing.cards import checkout as card_checkout
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from tests import localstripe as stripe_stand_in
from tests.conftest import make_test_app
from tests.localstripe import SECRET_KEY, event_body, signature_header
from tests.xero.conftest import http
from tests.xero.payments_env import PaymentEnv
from xero.admin.ledger_check import check_ledgers
from xero.admin.trial_run import (
    checklist,
    clean_up,
    cleanup_progress,
    send_test_invoice,
    to_clean_up,
    trial_customer,
)
from xero.models import JobKind, JobStatus, SyncJob, TrialCleanup
from xero.sync import trial_cleanup

localstripe = stripe_stand_in.localstripe


@pytest.fixture
def env_class():
    return PaymentEnv


def steps(env, invoice_id):
    with env.Session() as db:
        return [step.done for step in checklist(db, db.get(Invoice, invoice_id))]


def cleanup_steps(env, invoice_id):
    with env.Session() as db:
        progress = cleanup_progress(db, db.get(Invoice, invoice_id))
        return [step.done for step in progress.steps] if progress else None


def send(env) -> int:
    with env.Session() as db, db.begin():
        invoice = send_test_invoice(db, env.desk_id, prefix="TEST-", today=date.today())
        assert invoice.number == "TEST-00001"
        return invoice.id


def pay_now(env, invoice_id) -> str:
    """A customer pays on the sandbox's online invoice page, as in a browser."""
    online = env.link(invoice_id).online_invoice_url
    page = http().request("GET", online).data.decode()
    service = re.search(r'name="service" value="([^"]+)"', page).group(1)
    amount = re.search(r'name="amount"[^>]*value="([^"]+)"', page).group(1)
    answer = http().request_encode_body(
        "POST",
        online.replace("/online", "/pay"),
        fields={"amount": amount, "service": service},
        encode_multipart=False,
        redirect=False,
    )
    assert answer.status == 303, answer.data
    return amount


def ledgers_agree(env):
    with env.Session() as db:
        result = check_ledgers(db, env.service.api(db))
    assert result.ok, (result.mismatches, result.portal_violations)
    return result


def clean_up_now(env) -> list[str]:
    with env.Session() as db, db.begin():
        return [invoice.number for invoice in clean_up(db, requested_by_id=None)]


def test_pay_now_then_clean_up_leaves_agreeing_books(env, portal_webhooks):
    invoice_id = send(env)
    with env.Session() as db:
        assert trial_customer(db).is_test
    assert steps(env, invoice_id) == [False] * 5

    env.drain_all()
    assert steps(env, invoice_id) == [True, True, False, False, False]
    amount = pay_now(env, invoice_id)
    assert env.handle_webhooks()  # the sandbox's INVOICE webhooks, stored and handled
    assert {e.status for e in env.events()} == {"done"}
    [payment] = env.payments(invoice_id)
    [x_payment] = env.xero_payments_of(invoice_id)
    assert payment.source == PaymentSource.XERO
    assert payment.xero_payment_id.lower() == x_payment.payment_id.lower()  # Xero's own id
    assert payment.amount == Decimal(amount)
    assert steps(env, invoice_id) == [True] * 5
    ledgers_agree(env)

    assert clean_up_now(env) == ["TEST-00001"]
    # Recorded, not done: nothing changed in Xero or in the portal's money yet.
    assert env.invoice(invoice_id).state is InvoiceStatus.PAID
    assert env.xero_invoice_of(invoice_id).status == "PAID"
    assert cleanup_steps(env, invoice_id) == [False, False, False, False]
    assert clean_up_now(env) == []  # asked twice: one clean-up, one job
    [job] = [j for j in env.jobs() if j.kind == JobKind.TRIAL_CLEANUP]

    env.drain_all()
    assert cleanup_steps(env, invoice_id) == [True, True, True, True]
    invoice = env.invoice(invoice_id)
    assert invoice.state is InvoiceStatus.VOIDED and invoice.amount_paid == 0
    assert env.payment(payment.id).reversed_at is not None
    assert env.xero_invoice_of(invoice_id).status == "VOIDED"
    assert env.xero_payments_of(invoice_id) == []
    assert [p.status for p in env.xero_payments_of(invoice_id, status=None)] == ["DELETED"]
    assert next(j for j in env.jobs() if j.id == job.id).status == JobStatus.DONE
    result = ledgers_agree(env)
    assert result.checked == 1

    # The poller reading Xero afterwards (the deletion, the void) changes nothing.
    env.pull()
    assert env.invoice(invoice_id).state is InvoiceStatus.VOIDED
    ledgers_agree(env)


def test_a_refused_step_is_retried_with_backoff_and_then_done(env, portal_webhooks):
    invoice_id = send(env)
    env.drain_all()
    pay_now(env, invoice_id)
    env.handle_webhooks()
    clean_up_now(env)
    env.sandbox.faults.add("status", status=503, method="POST", path="/api.xro/2.0/Payments/*")

    env.worker().drain()
    [job] = [j for j in env.jobs() if j.kind == JobKind.TRIAL_CLEANUP]
    assert job.status == JobStatus.PENDING and job.attempts == 1
    assert cleanup_steps(env, invoice_id) == [True, False, False, False]
    with env.Session() as db:
        progress = cleanup_progress(db, db.get(Invoice, invoice_id))
        assert progress.problem and not progress.needs_attention
    assert env.invoice(invoice_id).state is InvoiceStatus.PAID  # nothing voided half-way

    env.drain_all()  # past the backoff
    assert cleanup_steps(env, invoice_id) == [True, True, True, True]
    ledgers_agree(env)


def test_an_invoice_never_paid_is_voided_in_xero_then_here(env):
    invoice_id = send(env)
    env.drain_all()
    clean_up_now(env)
    env.drain_all()
    assert cleanup_steps(env, invoice_id) == [True, True, True, True]
    assert env.xero_invoice_of(invoice_id).status == "VOIDED"
    assert env.invoice(invoice_id).state is InvoiceStatus.VOIDED
    with env.Session() as db:
        assert to_clean_up(db) == []
    ledgers_agree(env)


@pytest.fixture
def portal(env, localstripe):
    """The portal app on the env's database, with Stripe pointed at localstripe: its
    /webhooks/stripe, and the worker's gateway for refunds, as production wires them."""
    return make_test_app(
        env.database_url,
        ENCRYPTION_KEY=env.fernet_key,
        XERO_BASE_URL=env.served.url,
        XERO_CLIENT_ID=env.client.client_id,
        XERO_CLIENT_SECRET=env.client.client_secret,
        **stripe_stand_in.stripe_app_settings(localstripe),
    )


def pay_by_card(env, portal, localstripe, invoice_id) -> str:
    gateway = StripeGateway(SECRET_KEY, api_base=localstripe.url)
    with env.Session() as db:
        invoice = db.get(Invoice, invoice_id)
        claim = card_checkout.claim_attempt(db, invoice, invoice.amount_due)
        db.commit()
        outcome = card_checkout.charge_attempt(
            db, gateway, claim.attempt, invoice, localstripe.card_payment_method()
        )
        db.commit()
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    body = event_body("payment_intent.succeeded", intent)
    response = portal.test_client().post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature_header(body)},
    )
    assert response.status_code == 200 and response.json["received"]
    assert inbox.process_due(env.Session, portal.extensions["inbox_handlers"]) == 1
    return outcome.payment_intent_id


def test_card_payment_refunded_in_stripe_and_deleted_in_xero(env, portal, localstripe):
    invoice_id = send(env)
    env.drain_all()
    intent_id = pay_by_card(env, portal, localstripe, invoice_id)
    env.drain_all()  # the PAYMENT job writes the card payment to Xero
    [payment] = env.payments(invoice_id)
    [x_payment] = env.xero_payments_of(invoice_id)
    assert payment.gateway_payment_id == intent_id
    assert payment.xero_payment_id.lower() == x_payment.payment_id.lower()
    assert env.invoice(invoice_id).state is InvoiceStatus.PAID
    ledgers_agree(env)

    assert clean_up_now(env) == ["TEST-00001"]
    env.drain_all()

    assert cleanup_steps(env, invoice_id) == [True, True, True, True]
    intent = localstripe.api("GET", f"/v1/payment_intents/{intent_id}")
    charge = localstripe.api("GET", f"/v1/charges/{payment.gateway_charge_id}")
    assert charge["amount_refunded"] == charge["amount"] == intent["amount"]
    refunded = env.payment(payment.id)
    assert refunded.amount_refunded == refunded.amount and refunded.net_amount == 0
    assert env.xero_payments_of(invoice_id) == []
    assert env.xero_invoice_of(invoice_id).status == "VOIDED"
    assert env.invoice(invoice_id).state is InvoiceStatus.VOIDED
    ledgers_agree(env)

    # Stripe's own refund event arriving later changes nothing.
    body = event_body("charge.refunded", charge)
    portal.test_client().post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature_header(body)},
    )
    inbox.process_due(env.Session, portal.extensions["inbox_handlers"])
    env.drain_all()
    assert env.payment(payment.id).amount_refunded == payment.amount
    ledgers_agree(env)


def test_stripe_unreachable_waits_and_voids_nothing(env, portal, localstripe):
    invoice_id = send(env)
    env.drain_all()
    pay_by_card(env, portal, localstripe, invoice_id)
    env.drain_all()
    clean_up_now(env)
    trial_cleanup.register_gateway(
        lambda db: StripeGateway(SECRET_KEY, api_base="http://127.0.0.1:9", max_network_retries=0)
    )
    try:
        env.worker().drain()
    finally:
        trial_cleanup.register_gateway(
            lambda db: StripeGateway(SECRET_KEY, api_base=localstripe.url)
        )
    [job] = [j for j in env.jobs() if j.kind == JobKind.TRIAL_CLEANUP]
    assert job.status == JobStatus.PENDING and "Stripe" in job.last_error
    assert cleanup_steps(env, invoice_id) == [False, False, False, False]
    assert env.invoice(invoice_id).state is InvoiceStatus.PAID
    assert env.xero_invoice_of(invoice_id).status == "PAID"
    ledgers_agree(env)

    env.drain_all()
    assert cleanup_steps(env, invoice_id) == [True, True, True, True]
    ledgers_agree(env)
    with env.Session() as db:
        assert db.scalar(select(TrialCleanup)).finished_at is not None
        assert db.scalars(select(Payment)).one().net_amount == 0
        assert db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.TRIAL_CLEANUP))
