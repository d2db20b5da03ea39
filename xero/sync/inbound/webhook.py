"""Xero's webhooks: the signature and the events, without any web framework.

Xero signs each delivery with the app's webhook key: ``x-xero-signature`` is the base64
HMAC-SHA256 of the raw body. A delivery carries a list of events that only name what changed
(``resourceId``) and never the data itself, so the portal stores each event and a job re-reads
the object from Xero. "Intent to receive" deliveries have no events: the endpoint must answer
200 for a correctly signed one and 401 for any other, within 5 seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any


def sign(body: bytes, key: str) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, signature: str | None, key: str) -> bool:
    """Whether ``signature`` is Xero's over exactly these bytes. No key accepts nothing."""
    if not key or not signature:
        return False
    return hmac.compare_digest(sign(body, key).encode(), signature.strip().encode())


@dataclass(frozen=True)
class WebhookEvent:
    #: Unique per event and stable across Xero's redeliveries (the inbox's key).
    event_id: str
    category: str
    event_type: str
    resource_id: str
    tenant_id: str
    event_date: str
    raw: dict[str, Any]

    @property
    def kind(self) -> str:
        return f"{self.category}.{self.event_type}".lower()


class MalformedPayload(ValueError):
    """The body is signed but is not a Xero webhook payload."""


def event_id(event: dict[str, Any]) -> str:
    """Xero's events carry no id of their own (some deliveries add ``eventId``); the
    resource, the moment and the kind of change together identify one."""
    if event.get("eventId"):
        return str(event["eventId"])
    parts = (
        event.get("eventCategory", ""),
        event.get("eventType", ""),
        str(event.get("resourceId", "")).lower(),
        event.get("eventDateUtc", ""),
    )
    return ":".join(str(p) for p in parts)[:255]


def parse(body: bytes) -> list[WebhookEvent]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as error:
        raise MalformedPayload(f"not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events", []), list):
        raise MalformedPayload("expected an object with a list of events")
    events = []
    for item in data.get("events", []):
        if not isinstance(item, dict) or not item.get("resourceId"):
            raise MalformedPayload("an event without a resourceId")
        events.append(
            WebhookEvent(
                event_id=event_id(item),
                category=str(item.get("eventCategory", "")).upper(),
                event_type=str(item.get("eventType", "")).upper(),
                resource_id=str(item["resourceId"]).lower(),
                tenant_id=str(item.get("tenantId", "")).lower(),
                event_date=str(item.get("eventDateUtc", "")),
                raw=item,
            )
        )
    return events
