"""Request bodies are limited on the bytes actually read, chunked or not: the app-wide
MAX_CONTENT_LENGTH, and less for the webhooks, which answer 413 before reading on and
before any signature work. A signed but malformed event is a 400, with nothing stored."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from billing.inbox import InboundEvent
from portal.webhooks import stripe as stripe_webhook
from portal.webhooks import xero as xero_webhook
from tests.localstripe import WEBHOOK_SECRET, signature_header

MIB = 1024 * 1024


@pytest.fixture
def app_settings():
    return {"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "XERO_WEBHOOK_KEY": "xero-key"}


class CountingStream(io.RawIOBase):
    """``size`` bytes of JSON-ish filler, counting how many the app read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b" " * n
        self.left -= n
        self.read_bytes += n
        return n


def chunked_post(client, url: str, size: int, content_type: str = "application/json"):
    """A body with no Content-Length, as a server hands over a chunked one (Werkzeug's test
    client always declares a length, so the environ is built by hand)."""
    stream = CountingStream(size)
    environ = EnvironBuilder(
        path=url, method="POST", headers={"Content-Type": content_type}
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BufferedReader(stream)
    environ["wsgi.input_terminated"] = True
    response = Response.from_app(client.application, environ, buffered=True)
    return response, stream.read_bytes


def stored(db) -> int:
    return db.scalar(select(func.count()).select_from(InboundEvent))


FORM = "application/x-www-form-urlencoded"
LIMITS = [
    ("/webhooks/stripe", stripe_webhook.MAX_BODY, "application/json"),
    ("/webhooks/xero", xero_webhook.MAX_BODY, "application/json"),
    ("/login", MIB, FORM),  # no sign-in needed: anyone can send it
]


@pytest.mark.parametrize(("url", "limit", "content_type"), LIMITS)
def test_a_chunked_body_past_the_limit_is_413_without_reading_it_all(
    db, client, url, limit, content_type
):
    response, read = chunked_post(client, url, 20 * MIB, content_type)
    assert response.status_code == 413
    assert read <= limit + 64 * 1024  # at most a read-ahead buffer past the limit
    assert stored(db) == 0


@pytest.mark.parametrize(("url", "limit", "content_type"), LIMITS)
def test_a_declared_length_past_the_limit_is_413_before_reading(
    db, client, url, limit, content_type
):
    stream = io.BytesIO(b" " * (limit + 2))
    response = client.post(url, input_stream=stream, headers={"Content-Type": content_type})
    assert response.status_code == 413
    assert stream.tell() == 0  # not a byte read
    assert stored(db) == 0


def test_the_app_wide_limit_is_a_setting(app, db, client):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response, _ = chunked_post(client, "/login", 4096, FORM)
    assert response.status_code == 413
    assert b"Too large" in response.data


@pytest.mark.parametrize("body", ["[1, 2]", "3", '"a string"', "null", '{"no": "id"}'])
def test_a_signed_stripe_event_that_is_not_an_event_is_400(db, client, body):
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature_header(body)},
    )
    assert response.status_code == 400
    assert response.json["received"] is False
    assert stored(db) == 0


def test_a_signed_stripe_event_still_gets_in(db, client):
    body = json.dumps({"id": "evt_ok", "object": "event", "type": "charge.refunded"})
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature_header(body)},
    )
    assert response.status_code == 200
    assert stored(db) == 1
