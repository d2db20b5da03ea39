"""``POST /webhooks/stripe``: Stripe's signed events into the inbox.

The endpoint checks the signature over the raw body (``Stripe-Signature``, at most 300 s
old), stores the event once under Stripe's event id and answers at once; a replay is
acknowledged and ignored. The work (re-reading the object from Stripe, recording the
payment) is ``billing.cards.stripe_events``' job, run by the worker from the inbox (the keys
and the handler's wiring: ``portal.stripe_setup``).
"""

from __future__ import annotations

import json
import logging

import stripe
from flask import jsonify, request

from billing import inbox
from billing.cards import stripe_events
from portal.db import get_db
from portal.stripe_setup import stripe_keys
from portal.webhooks import bp

log = logging.getLogger(__name__)

#: Seconds a signature's timestamp may be old: Stripe's own default, against replays.
TOLERANCE = 300
#: Stripe's events are a few kilobytes; anything far larger is not one of them.
MAX_BODY = 512 * 1024


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
