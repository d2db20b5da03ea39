"""Domain events reach the subscribers of the session's application, and only a session an
application (or a test of the domain) made may publish: a change through any other session
would never reach Xero, so it is refused rather than silently kept."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from billing import events
from billing.events import EventBus, NoEventBus


def test_a_session_publishes_to_its_own_applications_bus(engine):
    heard_here, heard_there = [], []
    here, there = EventBus(), EventBus()
    here.subscribe(events.INVOICE_ISSUED, lambda db, **payload: heard_here.append(payload))
    there.subscribe(events.INVOICE_ISSUED, lambda db, **payload: heard_there.append(payload))
    with Session(engine, info=here.session_info()) as db:
        events.publish(db, events.INVOICE_ISSUED, invoice_id=7)
    assert heard_here == [{"invoice_id": 7}]
    assert heard_there == []


def test_a_session_no_application_made_may_not_publish(engine):
    with Session(engine) as db, pytest.raises(NoEventBus, match="reaches Xero"):
        events.publish(db, events.INVOICE_ISSUED, invoice_id=7)
