"""The one rule for changing an invoice's money or state: lock the row, re-read, then act.

Every operation that changes an invoice's money or state (issue, edit after issue, record a
payment, a refund or a reversal, void, delete, resolve an overpayment, claim a card attempt)
calls ``lock_invoice`` first, inside the transaction that will write, and checks its rules
against what that returns, never against an object read earlier.

Why: on PostgreSQL (READ COMMITTED) two workers, two tabs, or an admin and a webhook each
read the invoice, each pass a check that only one of them may pass ("is the payment more than
the amount due?", "is anything paid?"), and each write: a lost update. ``SELECT ... FOR
UPDATE`` makes the second wait until the first commits, and then read what the first wrote.
SQLite has no row locks and SQLAlchemy renders no FOR UPDATE there: the portal begins every
SQLite transaction with BEGIN IMMEDIATE (``portal.db``), which takes the one database write
lock up front, so a second writer waits (busy timeout) until the first has committed.

The lock lasts until the transaction ends (the request, the job, the CLI command), so no
network call may run while it is held: end the transaction before calling Xero or Stripe.
Asked again within the same transaction (a view locks, then the operation it calls does),
the invoice is already locked and re-read: it comes from the session with no query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from billing.errors import NotFound
from billing.invoices.model import Invoice

#: Session.info key: ids of the invoices this session's transaction has locked.
LOCKED = "locked_invoices"


def lock_invoice(db: Session, invoice_id: int) -> Invoice:
    """The invoice, locked for this transaction and re-read from the database (its payments
    too), so every check made after this sees what any earlier writer committed."""
    locked: set[int] = db.info.setdefault(LOCKED, set())
    if invoice_id in locked:
        held = db.get(Invoice, invoice_id)  # from the identity map: locked and read already
        if held is not None:
            return held
    invoice = db.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        # OF: the customer is joined eagerly, and only the invoice row is ours to lock.
        .with_for_update(of=Invoice)
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound("No such invoice.")
    locked.add(invoice_id)
    return invoice


@event.listens_for(Session, "after_transaction_end")
def _locks_released(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # The session's own transaction ended (commit or rollback): so did its row locks.
    if transaction.parent is None:
        session.info.pop(LOCKED, None)
