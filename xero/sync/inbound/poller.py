"""The poller: every invoice and payment changed in Xero since the last pull, read and
applied on schedule, for webhooks that were lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from billing.db import outside_transaction
from xero.api.errors import NotConnected, XeroError
from xero.api.records import XeroPayment
from xero.models import (
    XeroConnection,
    XeroSettings,
)
from xero.sync.inbound.reading import _connect
from xero.sync.inbound.rules import InvoiceChange, apply_changes

if TYPE_CHECKING:
    from xero.integration import XeroIntegration

log = logging.getLogger(__name__)
T = TypeVar("T")


PAGE_SIZE = 100


#: Read a little before the last pull started: the portal's clock and Xero's may differ.
OVERLAP = timedelta(minutes=2)


def _pages(read_page: Callable[[int], list[T]], page_size: int) -> list[T]:
    """Every item, page after page, until a page is not full."""
    items: list[T] = []
    page = 1
    while True:
        batch = read_page(page)
        items.extend(batch)
        if len(batch) < page_size:
            return items
        page += 1


def pull(service: XeroIntegration, *, page_size: int = PAGE_SIZE) -> int:
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
        modified = since - OVERLAP if since is not None else None
        invoices = _pages(
            lambda page: api.get_invoices_page(
                page, page_size, where='Type=="ACCREC"', modified_since=modified
            ),
            page_size,
        )
        payments = _pages(
            lambda page: api.get_payments_page(page, page_size, modified_since=modified),
            page_size,
        )
        changes: dict[str, InvoiceChange] = {}
        for x in invoices:
            key = x.invoice_id.lower()
            changes[key] = InvoiceChange(key, x.status)
        by_invoice: dict[str, list[XeroPayment]] = {}
        for p in payments:
            if p.invoice_id:
                by_invoice.setdefault(p.invoice_id.lower(), []).append(p)
        for key, found in by_invoice.items():
            changes.setdefault(key, InvoiceChange(key, None)).payments = found
        applied, complete = apply_changes(
            db, list(changes.values()), started, payments_out=payments_out
        )
        if complete:
            stored = db.get(XeroSettings, settings.id)
            if stored is not None:
                stored.last_pulled_at = started
        outside_transaction(db)
        return applied


def puller(service: XeroIntegration) -> Callable[[], int]:
    """``pull`` for the job runner: a Xero error waits for the next round."""

    def run() -> int:
        try:
            return pull(service)
        except XeroError as error:
            log.warning("xero pull: %s", error)
            return 0

    return run
