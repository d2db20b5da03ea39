"""The inbox: webhook events from payment gateways and Xero, stored once, handled by a job.

A webhook endpoint only checks the signature and stores the event under its provider's id
(a duplicate delivery hits the unique key and is acknowledged without a second row), then
answers at once. A worker hands each stored event to the handler registered for its
provider, in its own transaction. Which handler takes which provider's events belongs to the
application (``Handlers``, made by ``create_app()`` or by a benchmark or test and given to
``process_due``), not to the process. The inbox is a ``billing.jobs`` queue: a handler says what
became of its event with an outcome (None is done); one that raises is retried with backoff.
"""

from __future__ import annotations

import enum
import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    Select,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing import jobs
from billing.db import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
#: Backoff after a failed attempt: 5 s doubling, at most an hour (``jobs.backoff``).
BACKOFF_BASE = 5.0
BACKOFF_CAP = 3600.0
#: Events a job runner's round takes: what is due, all of it (a burst of webhooks, or two
#: that waited for a slow round, stays one round and one batch of calls to Xero).
ROUND_LIMIT = 500

Handler = Callable[[Session, "InboundEvent"], "jobs.Outcome | None"]


class EventStatus(enum.StrEnum):
    PENDING = jobs.PENDING
    RUNNING = jobs.RUNNING
    DONE = "done"
    #: Failed MAX_ATTEMPTS times, or for good: shown to an admin, who may retry it.
    FAILED = "failed"


_STATUS_SQL = ", ".join(f"'{status.value}'" for status in EventStatus)


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="provider_event"),
        Index("ix_inbound_events_due", "status", "next_attempt_at"),
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stripe or xero
    provider: Mapped[str] = mapped_column(String(20))
    #: The provider's own id of the event (Stripe's evt_..., Xero's eventId + resource).
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    #: The verified JSON body, as received.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def data(self) -> Any:
        return json.loads(self.payload)


class Handlers:
    """One application's handlers of stored events, one per provider."""

    def __init__(self) -> None:
        self._by_provider: dict[str, Handler] = {}

    def register(self, provider: str, handler: Handler) -> None:
        """Hand ``provider``'s events to ``handler`` (replacing any earlier one)."""
        self._by_provider[provider] = handler

    def for_provider(self, provider: str) -> Handler | None:
        return self._by_provider.get(provider)


#: Fields that let whoever holds them act on an object (a PaymentIntent's or SetupIntent's
#: ``client_secret`` confirms it from any browser; an ephemeral key's ``secret``). Handlers
#: re-read objects from their provider, so the inbox never needs them and never keeps them.
SECRET_FIELDS = frozenset({"client_secret", "secret"})


def without_secrets(payload: str) -> str:
    """``payload`` (JSON) with every SECRET_FIELDS key removed, at any depth."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return json.dumps(scrub(data), separators=(",", ":"))


def store_event(
    db: Session,
    provider: str,
    event_id: str,
    event_type: str,
    payload: str,
    *,
    not_before: datetime | None = None,
) -> bool:
    """Store a verified event, without its secrets. False when it was already stored (a
    replay): ignore it. ``not_before``: the event is not urgent and waits until then to be
    handled on its own (a handler batching events may take it earlier)."""
    payload = without_secrets(payload)
    event = InboundEvent(
        provider=provider, event_id=event_id, event_type=event_type, payload=payload
    )
    if not_before is not None:
        event.next_attempt_at = not_before
    try:
        with db.begin_nested():
            db.add(event)
    except IntegrityError:
        return False
    return True


def process_due(
    session_factory: Callable[[], Session],
    handlers: Handlers,
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = 100,
    rng: random.Random | None = None,
) -> int:
    """Hand due events to their handlers, each in its own transaction. Returns how many."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    with session_factory() as db, db.begin():
        moment = now()
        events = jobs.lock(
            db,
            select(InboundEvent)
            .where(jobs.due(InboundEvent, moment))
            .order_by(InboundEvent.id)
            .limit(limit),
        )
        jobs.take(events, moment, LEASE)
        ids = [event.id for event in events]
    for event_id in ids:
        _handle(session_factory, handlers, event_id, now, rng)
    return len(ids)


def _handle(
    session_factory: Callable[[], Session],
    handlers: Handlers,
    event_id: int,
    now: Callable[[], datetime],
    rng: random.Random,
) -> None:
    with session_factory() as db:
        event = db.get_one(InboundEvent, event_id)
        handler = handlers.for_provider(event.provider)
        outcome: jobs.Outcome
        try:
            if handler is None:
                raise LookupError(f"no handler for {event.provider} events")
            outcome = handler(db, event) or jobs.Done()
        except Exception as error:  # noqa: BLE001 - any failure is retried, then shown
            db.rollback()
            event = db.get_one(InboundEvent, event_id)
            reason = f"{type(error).__name__}: {error}"
            attempts = event.attempts + 1
            when = now()
            if attempts < MAX_ATTEMPTS:
                when += jobs.backoff(attempts, base=BACKOFF_BASE, cap=BACKOFF_CAP, rng=rng)
            outcome = jobs.RetryAt(when, reason)
            log.warning("inbound %s event %s failed: %s", event.provider, event.event_id, error)
        _record(event, outcome, now())
        db.commit()  # the job runner's boundary: the handler's work with its outcome


def _record(event: InboundEvent, outcome: jobs.Outcome, now: datetime) -> None:
    event.locked_until = None
    if isinstance(outcome, jobs.Done):
        event.status = EventStatus.DONE
        event.processed_at = now
        return
    if isinstance(outcome, jobs.WaitFor):
        event.status = EventStatus.PENDING
        event.next_attempt_at = outcome.until or now
        event.last_error = outcome.what[:2000]
        return
    if isinstance(outcome, jobs.RetryAt) and outcome.counted:
        event.attempts += 1
    event.last_error = outcome.reason[:2000]
    if isinstance(outcome, jobs.Failed) or event.attempts >= MAX_ATTEMPTS:
        event.status = EventStatus.FAILED
    else:
        event.status = EventStatus.PENDING
        event.next_attempt_at = outcome.when


def retry_event(db: Session, event: InboundEvent, now: datetime) -> None:
    """An admin asks for a failed event to be handled again, from scratch."""
    event.status = EventStatus.PENDING
    event.attempts = 0
    event.next_attempt_at = now
    event.locked_until = None
    db.flush()


def troubled_events(limit: int = 100) -> Select[InboundEvent]:
    """Events that failed for good, or are retrying: newest first."""
    return (
        select(InboundEvent)
        .where(or_(InboundEvent.status == EventStatus.FAILED, InboundEvent.attempts > 0))
        .where(InboundEvent.status != EventStatus.DONE)
        .order_by(InboundEvent.id.desc())
        .limit(limit)
    )
