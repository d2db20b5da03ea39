"""Reading the portal's invoices and their payments from Xero, and applying them
(``rules``). The token is fetched (and committed, refresh tokens being single use) before
Xero is called, and no transaction stays open during the calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.db import outside_transaction
from billing.invoices.model import Payment
from xero.api.errors import AuthLost, NotConnected, RateLimited, XeroError
from xero.api.port import XeroPort
from xero.api.records import XeroPayment
from xero.models import (
    XeroInvoiceLink,
    XeroSettings,
)
from xero.sync.inbound.rules import (
    InvoiceChange,
    _links,
    _payment_id,
    apply_changes,
)

if TYPE_CHECKING:
    from xero.integration import XeroIntegration

log = logging.getLogger(__name__)


#: Invoices re-read per GET /Invoices?IDs=... (Xero's page holds 100; 50 keeps URLs short).
READ_BATCH = 50


#: Invoices whose payments (deleted ones too) are read per GET /Payments?where=...
PAYMENTS_CHUNK = 25


def _connect(service: XeroIntegration, db: Session) -> tuple[XeroPort, XeroSettings | None]:
    api = service.api(db)
    settings = db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == api.tenant_id))
    return api, settings


def read_invoices(
    api: XeroPort,
    xero_invoice_ids: Sequence[str],
    known: dict[str, set[str]] | None = None,
    failed: dict[str, XeroError] | None = None,
) -> dict[str, InvoiceChange]:
    """Invoices and their payments as Xero has them now, 50 per GET /Invoices?IDs=...

    An invoice lists only the payments that stand. Where one the portal holds for it
    (``known``: Xero invoice id -> PaymentIDs, lower case) is missing from that list, it was
    deleted: that invoice's payments, deleted ones too, are read through GET /Payments.
    With ``failed`` given, a call that fails leaves its invoices there, with the error, and
    the others are still read (a 429 or a lost connection stops the reading)."""
    changes: dict[str, InvoiceChange] = {}
    unique = list(dict.fromkeys(i.lower() for i in xero_invoice_ids))

    def failing(error: XeroError, chunk: list[str], rest: list[str]) -> bool:
        """Note the error; whether to stop reading."""
        if failed is None:
            raise error
        stop = isinstance(error, RateLimited | AuthLost | NotConnected)
        for key in rest if stop else chunk:
            failed[key] = error
            changes.pop(key, None)
        return stop

    for start in range(0, len(unique), READ_BATCH):
        chunk = unique[start : start + READ_BATCH]
        try:
            answer = api.get_invoices_by_ids(chunk)
        except XeroError as error:
            if failing(error, chunk, unique[start:]):
                return changes
            continue
        for x in answer:
            # Listed on the invoice: it stands.
            payments = [replace(p, status=p.status or "AUTHORISED") for p in x.payments]
            key = x.invoice_id.lower()
            changes[key] = InvoiceChange(key, x.status, payments)
    known = known or {}
    gone = [
        key
        for key, change in changes.items()
        if known.get(key, set()) - {_payment_id(p) for p in change.payments}
    ]
    for start in range(0, len(gone), PAYMENTS_CHUNK):
        chunk = gone[start : start + PAYMENTS_CHUNK]
        try:
            standing = api.get_payments(
                " OR ".join(f'Invoice.InvoiceID==guid("{i}")' for i in chunk)
            )
        except XeroError as error:
            if failing(error, chunk, gone[start:]):
                return changes
            continue
        found: dict[str, list[XeroPayment]] = {key: [] for key in chunk}
        for p in standing:
            if p.invoice_id.lower() in found:
                found[p.invoice_id.lower()].append(p)
        for key, payments in found.items():
            changes[key].payments = payments
    return changes


def _known_payments(db: Session, xero_invoice_ids: Sequence[str]) -> dict[str, set[str]]:
    """The Xero PaymentIDs the portal holds as standing, per Xero invoice id (lower case)."""
    known: dict[str, set[str]] = {}
    if not xero_invoice_ids:
        return known
    rows = db.execute(
        select(XeroInvoiceLink.xero_invoice_id, Payment.xero_payment_id)
        .join(Payment, Payment.invoice_id == XeroInvoiceLink.invoice_id)
        .where(
            func.lower(XeroInvoiceLink.xero_invoice_id).in_([i.lower() for i in xero_invoice_ids]),
            Payment.xero_payment_id.is_not(None),
            Payment.reversed_at.is_(None),
        )
    )
    for invoice_id, payment_id in rows:
        known.setdefault((invoice_id or "").lower(), set()).add((payment_id or "").lower())
    return known


def _reread(
    service: XeroIntegration,
    db: Session,
    wanted: list[str],
    waiting: set[str],
    failed: dict[str, XeroError],
) -> None:
    """Read the portal's invoices among ``wanted`` from Xero and apply them (not committed);
    those that could not be read are left in ``failed``."""
    api, settings = _connect(service, db)
    if settings is not None and not settings.sync_payments_in:
        return
    payments_out = settings is None or settings.sync_payments_out
    links = _links(db, wanted)
    ours = [i for i in wanted if i in links]
    if not ours:
        return
    known = _known_payments(db, ours)
    outside_transaction(db)  # no transaction stays open while Xero answers
    changes = read_invoices(api, ours, known, failed)
    apply_changes(
        db, list(changes.values()), service.clock(), payments_out=payments_out, waiting=waiting
    )
