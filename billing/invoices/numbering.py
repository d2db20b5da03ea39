"""Invoice numbers: a prefix and a counter that stays unique and gap-free under concurrency.

The counter row is bumped with a single UPDATE ... RETURNING inside the issuing transaction.
On PostgreSQL the row lock it takes is held until that transaction ends, so concurrent
issuers queue on it; a transaction that rolls back also rolls back its increment, so issued
numbers have no gaps. On SQLite the whole database is locked by the write (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from sqlalchemy import String, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base


class InvoiceNumberSequence(Base):
    __tablename__ = "invoice_number_sequences"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: The last number handed out for this prefix (0 before the first invoice).
    last_value: Mapped[int] = mapped_column(default=0)


NUMBER_WIDTH = 5


def next_invoice_number(db: Session, prefix: str) -> str:
    bump = (
        update(InvoiceNumberSequence)
        .where(InvoiceNumberSequence.prefix == prefix)
        .values(last_value=InvoiceNumberSequence.last_value + 1)
        .returning(InvoiceNumberSequence.last_value)
    )
    value = db.execute(bump).scalar_one_or_none()
    if value is None:
        # First invoice with this prefix: create the row; if a concurrent issuer created it
        # first, our insert fails inside its savepoint and we bump theirs instead.
        try:
            with db.begin_nested():
                db.execute(insert(InvoiceNumberSequence).values(prefix=prefix, last_value=1))
            value = 1
        except IntegrityError:
            value = db.execute(bump).scalar_one()
    return f"{prefix}{value:0{NUMBER_WIDTH}d}"
