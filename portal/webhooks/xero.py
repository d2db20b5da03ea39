"""POST /webhooks/xero: Xero's signed event deliveries, and its "intent to receive" checks.

The signature (x-xero-signature, HMAC-SHA256 of the raw body with XERO_WEBHOOK_KEY) decides
the answer: 401 for a bad one, 200 with an empty body and no cookies for a good one, within
Xero's 5 seconds. Invoice events are stored once each in the inbox; the job runner re-reads
each invoice from Xero (xero.sync.inbound.events), never trusting the event for more than its id.
Events about invoices the portal holds as paid are stored held (``events.hold_until``).
"""

from __future__ import annotations

import json
import logging

from flask import Response, current_app, request

from billing import inbox
from portal.clock import now
from portal.db import get_db
from portal.request_body import BodyTooLarge, read_body
from portal.webhooks import bp
from xero.sync.inbound import events as inbound_events
from xero.sync.inbound import webhook

log = logging.getLogger(__name__)

#: The categories the portal acts on; others are acknowledged and dropped.
CATEGORIES = frozenset({"INVOICE"})


#: Xero sends at most a few events per delivery, each under a kilobyte.
MAX_BODY = 256 * 1024


#: The inbox's columns (billing.inbox.InboundEvent): longer would fail the insert.
MAX_EVENT_ID = 255
MAX_EVENT_TYPE = 100
TEXT_FIELDS = ("eventCategory", "eventType", "resourceId", "eventDateUtc", "tenantId")


def _check(event: webhook.WebhookEvent) -> None:
    """Each field the portal keeps is a string of a size the inbox holds."""
    for name in TEXT_FIELDS:
        if not isinstance(event.raw.get(name, ""), str):
            raise webhook.MalformedPayload(f"{name} is not a string")
    if "eventId" in event.raw and not isinstance(event.raw["eventId"], str):
        raise webhook.MalformedPayload("eventId is not a string")
    if len(event.event_id) > MAX_EVENT_ID or len(event.kind) > MAX_EVENT_TYPE:
        raise webhook.MalformedPayload("an event id or type too long")


@bp.post("/xero")
def xero_events() -> Response:
    try:
        body = read_body(MAX_BODY)
    except BodyTooLarge:
        log.info("xero webhook refused: body over %d bytes", MAX_BODY)
        return Response(status=413)
    if not webhook.verify(
        body, request.headers.get("x-xero-signature"), current_app.config["XERO_WEBHOOK_KEY"]
    ):
        return Response(status=401)
    try:
        events = webhook.parse(body)
        for event in events:
            _check(event)
    except webhook.MalformedPayload as error:
        # Correctly signed yet unreadable: nothing is stored, and the answer says so.
        log.warning("xero webhook: %s", error)
        return Response(status=400)
    db = get_db()
    stored = 0
    for event in events:
        if event.category in CATEGORIES:
            stored += inbox.store_event(
                db,
                "xero",
                event.event_id,
                event.kind,
                json.dumps(event.raw, sort_keys=True),
                not_before=inbound_events.hold_until(db, event.category, event.resource_id, now()),
            )
    if stored:
        log.info("xero webhook: %d new of %d events", stored, len(events))
    return Response(status=200)
