"""``POST /webhooks/stripe``: Stripe's signed events into the inbox, and the Stripe wiring.

The endpoint checks the signature over the raw body (``Stripe-Signature``, at most 300 s
old), stores the event once under Stripe's event id and answers at once; a replay is
acknowledged and ignored. The work (re-reading the object from Stripe, recording the
payment) is ``billing.stripe_events``' job, run by the worker from the inbox.

The Stripe keys come from the admin's payment settings, else from configuration
(STRIPE_*); STRIPE_API_BASE points the adapter at a stand-in such as localstripe.
"""

from __future__ import annotations

import json
import logging

import stripe
from flask import Flask, current_app, jsonify, request
from sqlalchemy.orm import Session

from billing import card_checkout, inbox, stripe_events
from billing.card_checkout import StripeKeys
from billing.gateways.stripe_gateway import StripeGateway
from portal.db import get_db
from portal.webhooks import bp

log = logging.getLogger(__name__)

#: Seconds a signature's timestamp may be old: Stripe's own default, against replays.
TOLERANCE = 300
#: Stripe's events are a few kilobytes; anything far larger is not one of them.
MAX_BODY = 512 * 1024


def stripe_keys(db: Session, app: Flask | None = None) -> StripeKeys:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    fallback = StripeKeys(
        publishable_key=config.get("STRIPE_PUBLISHABLE_KEY") or "",
        secret_key=config.get("STRIPE_SECRET_KEY") or "",
        webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or "",
    )
    settings = card_checkout.payment_settings(db)
    return card_checkout.stripe_keys(settings, app.extensions["secret_box"], fallback)


def stripe_gateway(db: Session, app: Flask | None = None) -> StripeGateway:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    keys = stripe_keys(db, app)
    return StripeGateway(keys.secret_key, api_base=app.config.get("STRIPE_API_BASE") or "")


@bp.record_once
def _register_handler(state) -> None:
    """The worker has no request: the handler keeps the app to read keys and settings."""
    app = state.app
    stripe_events.register(lambda db: stripe_gateway(db, app))


@bp.post("/stripe")
def stripe_webhook():
    if (request.content_length or 0) > MAX_BODY:
        return _refused("too large", 413)
    raw = request.get_data(cache=False)
    db = get_db()
    secret = stripe_keys(db).webhook_secret
    if not secret:
        log.error("Stripe webhook refused: no webhook signing secret is set")
        return _refused("not configured")
    try:
        event = stripe.Webhook.construct_event(
            raw, request.headers.get("Stripe-Signature"), secret, tolerance=TOLERANCE
        )
    except stripe.SignatureVerificationError:
        return _refused("bad signature")
    except ValueError:
        return _refused("not JSON")
    payload = raw.decode("utf-8")
    event_id, event_type = _id_and_type(payload, event)
    if not event_id:
        return _refused("no event id")
    stored = inbox.store_event(db, stripe_events.PROVIDER, event_id, event_type, payload)
    return jsonify(received=True, duplicate=not stored)


def _id_and_type(payload: str, event) -> tuple[str, str]:
    try:
        data = json.loads(payload)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("id") or getattr(event, "id", "") or ""), str(data.get("type") or "")


def _refused(reason: str, status: int = 400):
    log.info("Stripe webhook refused: %s", reason)
    return jsonify(received=False, error=reason), status
