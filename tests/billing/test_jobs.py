"""billing.jobs, the one job queue: the backoff schedule, statuses the database checks, and
the outcomes a handler gives back (done, retry at, wait for, failed)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from billing import inbox, jobs
from billing.db import utcnow
from billing.inbox import EventStatus, InboundEvent
from xero.models import SyncJob


def test_backoff_doubles_with_jitter_up_to_its_cap():
    rng = random.Random(7)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (30, 3600)]:
        wait = jobs.backoff(attempts, base=10, cap=3600, rng=rng).total_seconds()
        assert ceiling / 2 <= wait <= ceiling, (attempts, wait)


def test_backoff_draws_as_the_queues_did_before():
    """Same seed, same waits: the schedule the outbox and the inbox each wrote is kept."""
    ours, theirs = random.Random(3), random.Random(3)
    for attempts in range(1, 9):
        delay = min(3600, 5 * 2 ** (attempts - 1))
        expected = timedelta(seconds=theirs.uniform(delay / 2, delay))
        assert jobs.backoff(attempts, base=5, cap=3600, rng=ours) == expected


@pytest.mark.parametrize(
    "row",
    [
        lambda: InboundEvent(
            provider="stripe", event_id="evt_x", event_type="t", payload="{}", status="lost"
        ),
        lambda: SyncJob(kind="invoice", object_id=1, idempotency_key="k", status="lost"),
    ],
)
def test_the_database_refuses_an_unknown_status(db, row):
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(row())
        db.flush()


def _event(db, event_id: str) -> InboundEvent:
    event = InboundEvent(provider="test", event_id=event_id, event_type="t", payload="{}")
    db.add(event)
    db.flush()
    return event


def test_a_handler_says_what_became_of_its_event(db):
    now = utcnow() + timedelta(seconds=1)  # the events below are due
    later = now + timedelta(minutes=3)
    outcomes = {
        "done": None,
        "waits": jobs.WaitFor("the invoice to reach Xero", later),
        "retries": jobs.RetryAt(later, "try again"),
        "fails": jobs.Failed("nothing to be done"),
    }
    events = {name: _event(db, name) for name in outcomes}
    handlers = inbox.Handlers()
    handlers.register("test", lambda _db, event: outcomes[event.event_id])
    db.commit()  # stored, as by the webhook's request

    assert inbox.process_due(lambda: db, handlers, now=lambda: now) == 4

    for event in events.values():
        db.refresh(event)
    assert events["done"].status == EventStatus.DONE and events["done"].processed_at == now
    waiting = events["waits"]
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == ("pending", 0, later)
    retrying = events["retries"]
    assert (retrying.status, retrying.attempts, retrying.next_attempt_at) == ("pending", 1, later)
    assert retrying.last_error == "try again"
    failed = events["fails"]
    assert (failed.status, failed.last_error) == ("failed", "nothing to be done")
    assert all(event.locked_until is None for event in events.values())


def test_a_handler_that_raises_is_retried_with_backoff(db):
    now = utcnow() + timedelta(seconds=1)
    event = _event(db, "raises")

    def handler(_db, _event):
        raise RuntimeError("boom")

    handlers = inbox.Handlers()
    handlers.register("test", handler)
    db.commit()
    inbox.process_due(lambda: db, handlers, now=lambda: now, rng=random.Random(1))

    db.refresh(event)
    assert (event.status, event.attempts, event.last_error) == ("pending", 1, "RuntimeError: boom")
    assert now + timedelta(seconds=2.5) <= event.next_attempt_at <= now + timedelta(seconds=5)
