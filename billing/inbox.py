"""The inbox: webhook events from payment gateways and Xero, stored once, handled by a job.

A webhook endpoint only checks the signature and stores the event under its provider's id
(a duplicate delivery hits the unique key and is acknowledged without a second row), then
answers at once. A worker hands each stored event to the handler registered for its
provider, in its own transaction; a handler that fails is retried with backoff.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)

Handler = Callable[[Session, "InboundEvent"], None]
_handlers: dict[str, Handler] = {}


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="provider_event"),
        Index("ix_inbound_events_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stripe or xero
    provider: Mapped[str] = mapped_column(String(20))
    #: The provider's own id of the event (Stripe's evt_..., Xero's eventId + resource).
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    #: The verified JSON body, as received.
    payload: Mapped[str] = mapped_column(Text)
    #: pending, running, done, failed
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def data(self) -> Any:
        return json.loads(self.payload)


def register_handler(provider: str, handler: Handler) -> None:
    _handlers[provider] = handler


def store_event(db: Session, provider: str, event_id: str, event_type: str, payload: str) -> bool:
    """Store a verified event. False when it was already stored (a replay): ignore it."""
    try:
        with db.begin_nested():
            db.add(
                InboundEvent(
                    provider=provider, event_id=event_id, event_type=event_type, payload=payload
                )
            )
    except IntegrityError:
        return False
    return True


def process_due(
    session_factory: Callable[[], Session],
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = 100,
    rng: random.Random | None = None,
) -> int:
    """Hand due events to their handlers, each in its own transaction. Returns how many."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    with session_factory() as db, db.begin():
        moment = now()
        due = or_(
            and_(InboundEvent.status == "pending", InboundEvent.next_attempt_at <= moment),
            and_(InboundEvent.status == "running", InboundEvent.locked_until < moment),
        )
        events = list(
            db.scalars(
                select(InboundEvent)
                .where(due)
                .order_by(InboundEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for event in events:
            event.status = "running"
            event.locked_until = moment + LEASE
        ids = [event.id for event in events]
    for event_id in ids:
        _handle(session_factory, event_id, now, rng)
    return len(ids)


def _handle(session_factory, event_id: int, now, rng: random.Random) -> None:
    with session_factory() as db:
        event = db.get(InboundEvent, event_id)
        handler = _handlers.get(event.provider)
        try:
            if handler is None:
                raise LookupError(f"no handler for {event.provider} events")
            handler(db, event)
        except Exception as error:  # noqa: BLE001 - any failure is retried, then shown
            db.rollback()
            event = db.get(InboundEvent, event_id)
            event.attempts += 1
            event.last_error = f"{type(error).__name__}: {error}"[:2000]
            event.locked_until = None
            if event.attempts >= MAX_ATTEMPTS:
                event.status = "failed"
            else:
                event.status = "pending"
                delay = min(3600, 5 * 2 ** (event.attempts - 1))
                event.next_attempt_at = now() + timedelta(seconds=rng.uniform(delay / 2, delay))
            log.warning("inbound %s event %s failed: %s", event.provider, event.event_id, error)
        else:
            event.status = "done"
            event.processed_at = now()
            event.locked_until = None
        db.commit()


def retry_event(db: Session, event: InboundEvent, now: datetime) -> None:
    """An admin asks for a failed event to be handled again, from scratch."""
    event.status = "pending"
    event.attempts = 0
    event.next_attempt_at = now
    event.locked_until = None
    db.flush()


def troubled_events(limit: int = 100):
    """Events that failed for good, or are retrying: newest first."""
    return (
        select(InboundEvent)
        .where(or_(InboundEvent.status == "failed", InboundEvent.attempts > 0))
        .where(InboundEvent.status != "done")
        .order_by(InboundEvent.id.desc())
        .limit(limit)
    )
