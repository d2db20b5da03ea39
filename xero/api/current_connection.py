"""Which Xero connection the portal means. Connecting adds a row and retires (REMOVED) every
earlier one, so at most one row is not removed, and it is the newest.

- ``latest_connection``: the newest row, removed or not: what the worker, the admin's
  connection page and the webhook handler look at (a removal shows, and pauses the work).
- ``active_connection``: the connection in use, None once removed: whose tokens are used.

Callers that change a connection (refreshing its tokens, removing it) lock its row
themselves, after one of these found it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from xero.models import ConnectionStatus, XeroConnection


def latest_connection(db: Session) -> XeroConnection | None:
    """The newest connection row, removed or not (what the worker looks at)."""
    return db.scalar(select(XeroConnection).order_by(XeroConnection.id.desc()).limit(1))


def active_connection(db: Session) -> XeroConnection | None:
    """The newest connection that is not removed."""
    return db.scalar(
        select(XeroConnection)
        .where(XeroConnection.status != ConnectionStatus.REMOVED)
        .order_by(XeroConnection.id.desc())
        .limit(1)
    )
