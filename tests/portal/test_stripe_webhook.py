"""POST /webhooks/stripe: the signature over the raw body decides; a verified event is
stored once in the inbox and the answer is immediate; the worker's job does the rest."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import inbox
from billing.cards import checkout as card_checkout
from billing.cards import payment_settings as card_settings
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.cards.payment_settings import SettingsChange
from billing.inbox import InboundEvent
from billing.invoices.model import Payment
from tests import localstripe as stripe_stand_in
from tests.factories import ServiceFactory, make_invoice
from tests.localstripe import SECRET_KEY, WEBHOOK_SECRET, event_body, signature_header

localstripe = stripe_stand_in.localstripe
URL = "/webhooks/stripe"


@pytest.fixture
def app_settings(localstripe):
    return stripe_stand_in.stripe_app_settings(localstripe)


def post(client, body: str, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers)


def stored(db) -> int:
    return db.scalar(select(func.count()).select_from(InboundEvent))


BODY = event_body("payment_intent.succeeded", {"id": "pi_123"}, event_id="evt_signed")


def test_a_signed_event_is_stored_once_and_a_replay_is_acknowledged(db, client):
    first = post(client, BODY, signature_header(BODY))
    assert first.status_code == 200 and first.json == {"received": True, "duplicate": False}
    replay = post(client, BODY, signature_header(BODY))
    assert replay.status_code == 200 and replay.json["duplicate"] is True
    [event] = db.scalars(select(InboundEvent)).all()
    assert (event.provider, event.event_id) == ("stripe", "evt_signed")
    assert event.event_type == "payment_intent.succeeded"
    assert json.loads(event.payload) == json.loads(BODY) and event.status == "pending"


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(signature_header(BODY, secret="whsec_someone_else"), id="forged"),
        pytest.param(signature_header(BODY, timestamp=int(time.time()) - 301), id="stale"),
        pytest.param("t=123,v0=abc", id="malformed"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_stored(db, client, signature):
    response = post(client, BODY, signature)
    assert response.status_code == 400
    assert stored(db) == 0


def test_a_body_changed_after_signing_is_refused(db, client):
    signature = signature_header(BODY)
    response = post(client, BODY.replace("pi_123", "pi_999"), signature)
    assert response.status_code == 400 and stored(db) == 0


def test_signed_but_not_json_is_refused(db, client):
    response = post(client, "not json", signature_header("not json"))
    assert response.status_code == 400 and stored(db) == 0


@pytest.mark.parametrize("app_settings", [{"STRIPE_WEBHOOK_SECRET": ""}])
def test_without_a_signing_secret_nothing_is_accepted(db, client):
    assert post(client, BODY, signature_header(BODY)).status_code == 400
    assert stored(db) == 0


def test_the_secret_saved_in_the_settings_wins(db, app, client):
    card_settings.save_payment_settings(
        db,
        app.extensions["secret_box"],
        SettingsChange(True, True, True, "", webhook_secret="whsec_from_the_settings_page"),
    )
    db.commit()
    assert post(client, BODY, signature_header(BODY, WEBHOOK_SECRET)).status_code == 400
    signed = signature_header(BODY, "whsec_from_the_settings_page")
    assert post(client, BODY, signed).status_code == 200


def test_needs_no_sign_in_and_no_csrf_token(db, client):
    # The client has no session and sends no token: the signature is the only check.
    assert post(client, BODY, signature_header(BODY)).status_code == 200


def test_a_payment_arrives_through_the_webhook_and_the_worker(db, client, localstripe, member):
    handlers = client.application.extensions["inbox_handlers"]
    invoice = make_invoice(
        db, member.customer, [(ServiceFactory(unit_price=Decimal("50")), "1")]
    )  # 60.00
    gateway = StripeGateway(SECRET_KEY, api_base=localstripe.url)
    claim = card_checkout.claim_attempt(db, invoice, invoice.amount_due)
    db.commit()
    outcome = card_checkout.charge_attempt(
        db, gateway, claim.attempt, invoice, localstripe.card_payment_method()
    )
    db.commit()
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    body = event_body("payment_intent.succeeded", intent)

    assert post(client, body, signature_header(body)).status_code == 200
    assert invoice.status == "awaiting_payment"  # stored, not yet handled
    assert inbox.process_due(lambda: db, handlers) == 1
    assert post(client, body, signature_header(body)).json["duplicate"] is True
    assert inbox.process_due(lambda: db, handlers) == 0

    [payment] = db.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert payment.method == "card" and payment.amount == Decimal("60.00")
    assert payment.reference == intent["latest_charge"]["id"]
    assert invoice.status == "paid"
    stored_payload = db.scalars(select(InboundEvent)).one().payload
    assert json.loads(stored_payload)["id"].startswith("evt_")
    # Stripe's PaymentIntent carries the secret that confirms it from a browser: not kept.
    assert intent["client_secret"] and intent["client_secret"] in body
    assert intent["client_secret"] not in stored_payload
    assert "client_secret" not in stored_payload
