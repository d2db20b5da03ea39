"""The poller: every invoice and payment changed in Xero since the last pull, read and
applied on schedule, for webhooks that were lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from billing.db import outside_transaction
from xero.client import XeroApi
from xero.errors import NotConnected, XeroError
from xero.models import (
    XeroConnection,
    XeroSettings,
)
from xero.sync.inbound.reading import _connect
from xero.sync.inbound.rules import InvoiceChange, _status, apply_changes

log = logging.getLogger(__name__)


PAGE_SIZE = 100


#: Read a little before the last pull started: the portal's clock and Xero's may differ.
OVERLAP = timedelta(minutes=2)


def _pages(api: XeroApi, method: str, collection: str, page_size: int, **kwargs) -> list:
    items: list = []
    page = 1
    while True:
        answer = api.call(method, page=page, page_size=page_size, **kwargs)
        batch = list(getattr(answer, collection) or [])
        items.extend(batch)
        if len(batch) < page_size:
            return items
        page += 1


def pull(service, *, page_size: int = PAGE_SIZE) -> int:
    """Read every invoice and payment changed in Xero since the last pull and apply them.
    Returns how many of the portal's invoices were applied. Not connected: nothing."""
    with service.session_factory() as db:
        try:
            api, settings = _connect(service, db)
        except NotConnected:
            return 0
        if settings is None or not settings.sync_payments_in:
            return 0
        connection = db.scalar(
            select(XeroConnection).where(XeroConnection.tenant_id == api.tenant_id).limit(1)
        )
        since = settings.last_pulled_at or (connection.connected_at if connection else None)
        payments_out = settings.sync_payments_out
        started = service.clock()
        outside_transaction(db)
        modified = {"if_modified_since": since - OVERLAP} if since is not None else {}
        invoices = _pages(
            api,
            "get_invoices",
            "invoices",
            page_size,
            where='Type=="ACCREC"',
            summary_only=True,
            **modified,
        )
        payments = _pages(api, "get_payments", "payments", page_size, **modified)
        changes: dict[str, InvoiceChange] = {}
        for x in invoices:
            key = str(x.invoice_id).lower()
            changes[key] = InvoiceChange(key, _status(x))
        by_invoice: dict[str, list] = {}
        for x in payments:
            if x.invoice is not None and x.invoice.invoice_id:
                by_invoice.setdefault(str(x.invoice.invoice_id).lower(), []).append(x)
        for key, found in by_invoice.items():
            changes.setdefault(key, InvoiceChange(key, None)).payments = found
        applied, complete = apply_changes(
            db, list(changes.values()), started, payments_out=payments_out
        )
        if complete:
            db.get(XeroSettings, settings.id).last_pulled_at = started
        outside_transaction(db)
        return applied


def puller(service) -> Callable[[], int]:
    """``pull`` for the job runner: a Xero error waits for the next round."""

    def run() -> int:
        try:
            return pull(service)
        except XeroError as error:
            log.warning("xero pull: %s", error)
            return 0

    return run
