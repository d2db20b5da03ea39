"""POST /webhooks/xero: Xero's signature over the raw body decides, intent-to-receive checks
pass, and each invoice event is stored once for the job runner."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from billing.inbox import InboundEvent
from xero.sync.inbound import webhook

KEY = "test-webhook-key/0123456789+abcdefABCDEF=="
TENANT = "7f3c1a52-0b8e-4c55-9a50-2d5f6c3f1e11"
INVOICE = "9b2f4c1e-55aa-4d3e-8f00-1c2d3e4f5a6b"


@pytest.fixture
def app_settings():
    return {"XERO_WEBHOOK_KEY": KEY}


def intent_to_receive() -> bytes:
    # Xero's own shape: no events, sequences 0.
    return b'{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}'


def invoice_update(event_type="UPDATE", category="INVOICE", when="2026-11-06T10:15:39.902"):
    return json.dumps(
        {
            "events": [
                {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{INVOICE}",
                    "resourceId": INVOICE,
                    "eventDateUtc": when,
                    "eventType": event_type,
                    "eventCategory": category,
                    "tenantId": TENANT,
                    "tenantType": "ORGANISATION",
                }
            ],
            "firstEventSequence": 7,
            "lastEventSequence": 7,
            "entropy": "QWERTYUIOPASDFGHJKLZ",
        }
    ).encode()


def post(client, body: bytes, key: str | None = KEY, signature: str | None = None):
    headers = {"Content-Type": "application/json"}
    if signature is None and key is not None:
        signature = webhook.sign(body, key)
    if signature is not None:
        headers["x-xero-signature"] = signature
    return client.post("/webhooks/xero", data=body, headers=headers)


def stored(db) -> list[InboundEvent]:
    return list(db.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def test_intent_to_receive_correctly_signed_is_200_with_no_body_and_no_cookie(client, db):
    response = post(client, intent_to_receive())
    assert response.status_code == 200
    assert response.data == b""
    assert "Set-Cookie" not in response.headers
    assert stored(db) == []


@pytest.mark.parametrize(
    "signature",
    [
        webhook.sign(intent_to_receive(), "another app's key"),
        "",
        "not base64 at all",
        None,  # no header
    ],
)
def test_intent_to_receive_incorrectly_signed_is_401(client, db, signature):
    body = intent_to_receive()
    response = post(client, body, key=None, signature=signature)
    assert response.status_code == 401
    assert response.data == b""
    assert stored(db) == []


def test_the_signature_is_over_the_raw_bytes(client, db):
    body = invoice_update()
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    response = post(client, reformatted, signature=webhook.sign(body, KEY))
    assert response.status_code == 401
    assert stored(db) == []


def test_without_a_configured_key_everything_is_refused(app, client, db):
    app.config["XERO_WEBHOOK_KEY"] = ""
    assert post(client, intent_to_receive(), key="").status_code == 401
    assert post(client, intent_to_receive()).status_code == 401


def test_an_invoice_event_is_stored_once(client, db):
    body = invoice_update()
    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 200  # Xero delivers again: one row

    [event] = stored(db)
    assert (event.provider, event.event_type, event.status) == ("xero", "invoice.update", "pending")
    assert INVOICE in event.event_id
    assert event.data()["resourceId"] == INVOICE
    assert event.data()["tenantId"] == TENANT


def test_a_later_change_to_the_same_invoice_is_another_event(client, db):
    post(client, invoice_update(when="2026-11-06T10:15:39.902"))
    post(client, invoice_update(when="2026-11-06T10:16:02.113"))
    assert len(stored(db)) == 2


def test_other_categories_are_acknowledged_and_dropped(client, db):
    assert post(client, invoice_update(category="CONTACT")).status_code == 200
    assert stored(db) == []


def test_a_signed_but_unreadable_payload_is_refused_with_400(client, db):
    assert post(client, b"not json").status_code == 400
    assert post(client, b'{"events": [{"eventType": "UPDATE"}]}').status_code == 400
    assert post(client, b"[1, 2]").status_code == 400
    too_long = {"resourceId": "x", "eventCategory": "INVOICE", "eventType": "U" * 200}
    assert post(client, json.dumps({"events": [too_long]}).encode()).status_code == 400
    not_text = {"resourceId": "x", "eventCategory": ["INVOICE"], "eventType": "UPDATE"}
    assert post(client, json.dumps({"events": [not_text]}).encode()).status_code == 400
    assert stored(db) == []


def test_webhooks_need_no_csrf_token_and_no_login(client, db):
    # The client carries no session and no CSRF token; the signature is all it needs.
    assert post(client, invoice_update()).status_code == 200


def test_event_ids_prefer_xero_s_own_and_otherwise_name_resource_and_moment():
    assert webhook.event_id({"eventId": "abc", "resourceId": INVOICE}) == "abc"
    one = webhook.event_id(
        {
            "eventCategory": "INVOICE",
            "eventType": "UPDATE",
            "resourceId": INVOICE.upper(),
            "eventDateUtc": "2026-11-06T10:15:39.902",
        }
    )
    assert one == f"INVOICE:UPDATE:{INVOICE}:2026-11-06T10:15:39.902"


def test_verify_is_constant_time_and_strict():
    body = invoice_update()
    good = webhook.sign(body, KEY)
    assert webhook.verify(body, good, KEY)
    assert webhook.verify(body, f" {good} ", KEY)
    assert not webhook.verify(body + b" ", good, KEY)
    assert not webhook.verify(body, good, "")
    assert not webhook.verify(body, None, KEY)
