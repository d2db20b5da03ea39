"""Domain events: how ``billing`` tells other packages what changed without importing them.

Operations publish an event inside the caller's transaction; subscribers (the Xero outbox)
write their own rows in that same transaction, so a change and the work it causes are
committed together or not at all.

The subscribers belong to an application, not to the process: each composition (the
portal's ``create_app()``, a benchmark, a test) makes its own ``EventBus`` and hands it to
the sessions it makes (``sessionmaker(..., info=bus.session_info())`` or ``bus.attach``).
An operation only has its session, so it publishes through it. A session that carries no
bus is refused (``NoEventBus``): a change whose events went nowhere would never reach Xero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., None]

#: Where a session carries its application's bus (``Session.info``).
_SESSION_KEY = "billing.events.bus"

INVOICE_ISSUED = "invoice_issued"
INVOICE_UPDATED = "invoice_updated"
INVOICE_VOIDED = "invoice_voided"
INVOICE_DELETED = "invoice_deleted"
CUSTOMER_UPDATED = "customer_updated"
PAYMENT_RECORDED = "payment_recorded"
#: A payment was refunded (in part) or reversed.
PAYMENT_CHANGED = "payment_changed"
#: An admin chose to keep an overpayment as the customer's credit (billing.payments.overpayments).
OVERPAYMENT_KEPT = "overpayment_kept"


class EventBus:
    """One application's subscribers, by event."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, event: str, handler: Handler) -> None:
        if handler not in self._subscribers[event]:
            self._subscribers[event].append(handler)

    def subscribers(self, event: str) -> list[Handler]:
        return list(self._subscribers.get(event, ()))

    def publish(self, db: Session, event: str, **payload: Any) -> None:
        for handler in self.subscribers(event):
            handler(db, **payload)

    def session_info(self) -> dict[str, Any]:
        """``info`` for a sessionmaker whose sessions publish to this bus."""
        return {_SESSION_KEY: self}

    def attach(self, db: Session) -> Session:
        """Make an existing session publish to this bus; returns it."""
        db.info[_SESSION_KEY] = self
        return db


def bus_of(db: Session) -> EventBus | None:
    """The bus the session publishes to, if it was given one."""
    bus = db.info.get(_SESSION_KEY)
    return bus if isinstance(bus, EventBus) else None


class NoEventBus(RuntimeError):
    """A change was made through a session no application made: its events (the Xero sync
    among them) would go nowhere, so the change is refused rather than silently kept."""


def publish(db: Session, event: str, **payload: Any) -> None:
    """Tell the subscribers of the session's application, in the session's transaction."""
    bus = bus_of(db)
    if bus is None:
        raise NoEventBus(
            f"{event}: the session carries no event bus; make it with the application's "
            "session factory (or EventBus.attach) so that what it changes reaches Xero"
        )
    bus.publish(db, event, **payload)
