"""Xero's webhooks, sent by the sandbox: INVOICE events, signed with the app's webhook key.

Xero tells a subscribed app that an invoice was created or changed (a payment on it, made,
deleted, a void) by posting ``{"events": [...], "firstEventSequence", "lastEventSequence",
"entropy"}`` with ``x-xero-signature``: the base64 HMAC-SHA256 of the raw body. Events name
the invoice only; the app reads it back through the API.

Deliveries run in a background thread with a short time-out, so neither the API call nor the
"Pay now" that caused them waits for the receiver. Each is kept with its outcome (status or
error) for tests and the demo to read; a failure is recorded, never raised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from .clock import Clock

XERO_API = "https://api.xero.com/api.xro/2.0"


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    url: str
    body: bytes
    signature: str
    at: float
    #: The receiver's HTTP status; None when no answer came (see ``error``).
    status: int | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def payload(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.body))


class WebhookSender:
    def __init__(
        self, clock: Clock, url: str | None = None, key: str | None = None, timeout: float = 3.0
    ) -> None:
        self.clock = clock
        #: Where the subscribed app receives events; None sends nothing.
        self.url = url
        #: The app's webhook signing key.
        self.key = key
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._sequence = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.key)

    def invoice_events(self, tenant_id: str, changes: list[tuple[str, str]]) -> Delivery | None:
        """One delivery for ``(invoice id, CREATE|UPDATE)`` changes; None when not subscribed."""
        if not self.enabled or not changes:
            return None
        moment = datetime.fromtimestamp(self.clock.now(), tz=UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        events = [
            {
                "resourceUrl": f"{XERO_API}/Invoices/{invoice_id}",
                "resourceId": invoice_id,
                "eventDateUtc": stamp,
                "eventType": event_type,
                "eventCategory": "INVOICE",
                "tenantId": tenant_id,
                "tenantType": "ORGANISATION",
            }
            for invoice_id, event_type in changes
        ]
        return self.send(events)

    def send(self, events: list[dict[str, Any]]) -> Delivery | None:
        """Sign and post a payload (an empty list is an "intent to receive" check)."""
        if not self.enabled:
            return None
        assert self.url is not None and self.key is not None
        with self._lock:
            first = self._sequence + 1
            self._sequence += max(1, len(events))
            last = self._sequence
        body = json.dumps(
            {
                "events": events,
                "firstEventSequence": first if events else 0,
                "lastEventSequence": last if events else 0,
                "entropy": "".join(secrets.choice(string.ascii_uppercase) for _ in range(20)),
            },
            separators=(",", ":"),
        ).encode()
        delivery = Delivery(self.url, body, sign(body, self.key), self.clock.now())
        with self._lock:
            self.deliveries.append(delivery)
        threading.Thread(
            target=self._deliver, args=(delivery,), name="xero-sandbox-webhook", daemon=True
        ).start()
        return delivery

    def _deliver(self, delivery: Delivery) -> None:
        request = urllib.request.Request(  # noqa: S310 - a configured http(s) URL
            delivery.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "x-xero-signature": delivery.signature,
                "User-Agent": "Xero-Webhooks (sandbox)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                delivery.status = response.status
        except urllib.error.HTTPError as error:
            delivery.status = error.code
            delivery.error = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            delivery.error = f"{type(error).__name__}: {error}"
        finally:
            delivery.done.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait for every delivery so far to finish; whether they all did in time."""
        with self._lock:
            pending = list(self.deliveries)
        return all(d.done.wait(timeout) for d in pending)
