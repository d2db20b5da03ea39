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

from flask import jsonify, request

from billing import inbox
from billing.cards import stripe_events
from portal.db import get_db
from portal.request_body import BodyTooLarge, read_body
from portal.stripe_setup import stripe_keys
from portal.webhooks import bp

log = logging.getLogger(__name__)

#: Seconds a signature's timestamp may be old: Stripe's own default, against replays.
TOLERANCE = 300
#: Stripe's events are a few kilobytes; anything far larger is not one of them.
MAX_BODY = 512 * 1024


@bp.post("/stripe")
def stripe_webhook():
    import stripe  # here, not at start-up: see portal.stripe_setup.stripe_gateway

    try:
        raw = read_body(MAX_BODY)
    except BodyTooLarge:
        return _refused("too large", 413)
    db = get_db()
    secret = stripe_keys(db).webhook_secret
    if not secret:
        log.error("Stripe webhook refused: no webhook signing secret is set")
        return _refused("not configured")
    payload = raw.decode("utf-8", errors="replace")  # invalid UTF-8 then fails the signature
    try:
        # The signature alone first: building a stripe.Event from a signed body that is
        # not an event object (a JSON array, say) raises inside the library.
        stripe.WebhookSignature.verify_header(
            payload,
            request.headers.get("Stripe-Signature") or "",
            secret,
            tolerance=TOLERANCE,
        )
    except stripe.SignatureVerificationError:
        return _refused("bad signature")
    try:
        data = json.loads(payload)
    except ValueError:
        return _refused("not JSON")
    event_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        return _refused("not an event")
    event_type = data.get("type")
    stored = inbox.store_event(
        db,
        stripe_events.PROVIDER,
        event_id,
        event_type[:100] if isinstance(event_type, str) else "",
        payload,
    )
    return jsonify(received=True, duplicate=not stored)


def _refused(reason: str, status: int = 400):
    log.info("Stripe webhook refused: %s", reason)
    return jsonify(received=False, error=reason), status
