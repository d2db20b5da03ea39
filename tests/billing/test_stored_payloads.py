"""The inbox keeps events without the fields that would let their holder act on Stripe
objects (client_secret of PaymentIntents and SetupIntents, ephemeral keys' secret)."""

from __future__ import annotations

import json

from sqlalchemy import select

from billing import inbox
from billing.inbox import InboundEvent


def test_secrets_are_removed_at_any_depth(db):
    payload = json.dumps(
        {
            "id": "evt_1",
            "type": "setup_intent.succeeded",
            "data": {
                "object": {"id": "seti_1", "client_secret": "seti_1_secret_abc", "status": "ok"},
                "previous_attributes": [{"client_secret": "old_secret"}],
            },
            "ephemeral": {"secret": "ek_test_123"},
        }
    )
    assert inbox.store_event(db, "stripe", "evt_1", "setup_intent.succeeded", payload)
    stored = db.scalars(select(InboundEvent.payload)).one()
    for secret in ("seti_1_secret_abc", "old_secret", "ek_test_123", "client_secret"):
        assert secret not in stored
    data = json.loads(stored)
    assert data["data"]["object"] == {"id": "seti_1", "status": "ok"}


def test_a_payload_that_is_not_json_is_kept_as_it_is():
    assert inbox.without_secrets("not json") == "not json"


def test_the_migration_scrubs_events_stored_before(fresh_database_url):
    from sqlalchemy import text

    from portal import migrations
    from portal.db import make_engine

    url = fresh_database_url("scrub_migration")
    migrations.upgrade(url, "0012")
    engine = make_engine(url)
    try:
        stored = json.dumps({"id": "evt_old", "data": {"object": {"client_secret": "pi_x_secret"}}})
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO inbound_events (provider, event_id, event_type, payload, "
                    "status, attempts, received_at, next_attempt_at, last_error) VALUES ('stripe', "
                    "'evt_old', "
                    "'payment_intent.succeeded', :payload, 'done', 1, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP, '')"
                ),
                {"payload": stored},
            )
        migrations.upgrade(url)
        with engine.connect() as connection:
            payload = connection.scalar(text("SELECT payload FROM inbound_events"))
        assert json.loads(payload) == {"id": "evt_old", "data": {"object": {}}}
    finally:
        engine.dispose()
