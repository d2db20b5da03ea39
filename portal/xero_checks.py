"""The portal's side of xero.settings.ledger_rules: the connected organisation's ledger for a check,
read from Xero (once, then remembered) only when the Xero settings page never listed it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing.db import outside_transaction, utcnow
from portal.xero_setup import xero_integration
from xero.settings import choices as settings_sync
from xero.settings import ledger_rules
from xero.settings.choices import Ledger


def ledger_to_check(db: Session) -> Ledger | None:
    """None when Xero is not connected. Raises XeroError when Xero had to be read and
    could not be."""

    def read() -> Ledger:
        api = xero_integration().api(db)
        # No transaction may stay open while Xero is called: on SQLite it would hold the
        # write lock the rate limiter's own transaction needs.
        outside_transaction(db)
        return settings_sync.read_ledger(api)

    return ledger_rules.ledger_to_check(db, read, utcnow)
