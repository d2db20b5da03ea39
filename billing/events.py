"""Domain events: how ``billing`` tells other packages what changed without importing them.

Operations publish an event inside the caller's transaction; subscribers (the Xero outbox)
write their own rows in that same transaction, so a change and the work it causes are
committed together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)

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


def subscribe(event: str, handler: Handler) -> None:
    if handler not in _subscribers[event]:
        _subscribers[event].append(handler)


def publish(db: Session, event: str, **payload: Any) -> None:
    for handler in _subscribers[event]:
        handler(db, **payload)
