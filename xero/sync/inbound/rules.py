"""Applying what Xero says now about the portal's invoices, whichever way it was read (a
webhook's event, the poller). Events may arrive twice, late or out of order: nothing is
taken from an event but the invoice's id, and the rules only compare with what Xero shows:

- a payment in Xero the portal does not know (the online invoice's "Pay now", a bank
  reconciliation, one entered by hand) is recorded as a payment from Xero (held as an
  overpayment when the invoice was paid here meanwhile: billing.payments.overpayments); one
  the portal wrote itself is recognised by its PaymentID (or, while its push is unconfirmed, by its
  Reference and amount) and recorded once;
- a payment made in Xero and deleted there is reversed in the portal. A card payment the
  portal took stands until it is refunded in the portal: when it is deleted in Xero, the
  portal records it there again;
- an invoice voided in Xero is voided in the portal;
- an invoice the portal never sent is logged and left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.errors import BillingError
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment, reverse_payment
from xero.api.errors import XeroError
from xero.api.records import XeroPayment
from xero.models import (
    JobKind,
    JobStatus,
    SyncJob,
    XeroInvoiceLink,
)
from xero.sync.payments import xero_reference

log = logging.getLogger(__name__)


class PortalPushInProgress(XeroError):
    """A portal payment on this invoice is being written to Xero right now: what Xero shows
    may be that payment before its id is stored. Retried later (inbox backoff)."""


@dataclass
class InvoiceChange:
    """What Xero says now about one invoice."""

    xero_invoice_id: str
    #: AUTHORISED, PAID, VOIDED...; None when only its payments were read.
    status: str | None
    payments: list[XeroPayment] = field(default_factory=list)


def _payment_id(x: XeroPayment) -> str:
    return x.payment_id.lower()


def _links(db: Session, xero_ids: Sequence[str]) -> dict[str, XeroInvoiceLink]:
    if not xero_ids:
        return {}
    rows = db.scalars(
        select(XeroInvoiceLink).where(
            func.lower(XeroInvoiceLink.xero_invoice_id).in_([i.lower() for i in xero_ids])
        )
    )
    return {(link.xero_invoice_id or "").lower(): link for link in rows}


def apply_changes(
    db: Session,
    changes: Sequence[InvoiceChange],
    now: datetime,
    *,
    payments_out: bool = True,
    waiting: set[str] | None = None,
) -> tuple[int, bool]:
    """Apply each change in its own SAVEPOINT. Returns (invoices applied, all applied):
    one that must wait (a portal push in progress) leaves the rest applied, and its Xero id
    (lower case) is added to ``waiting`` when given."""
    links = _links(db, [c.xero_invoice_id for c in changes])
    applied, complete = 0, True
    for change in changes:
        link = links.get(change.xero_invoice_id.lower())
        if link is None:
            log.debug("xero invoice %s is not one of the portal's", change.xero_invoice_id)
            continue
        try:
            with db.begin_nested():
                _apply(db, link, change, now, payments_out)
        except PortalPushInProgress as error:
            log.info("xero invoice %s: %s", change.xero_invoice_id, error)
            complete = False
            if waiting is not None:
                waiting.add(change.xero_invoice_id.lower())
            continue
        applied += 1
    db.flush()
    return applied, complete


def _apply(
    db: Session, link: XeroInvoiceLink, change: InvoiceChange, now: datetime, payments_out: bool
) -> None:
    invoice = db.get(Invoice, link.invoice_id)
    if invoice is None:
        return
    # Deletions first, so that a payment replacing a deleted one fits the amount due.
    ordered = sorted(
        change.payments,
        key=lambda x: (x.status != "DELETED", str(x.date or ""), _payment_id(x)),
    )
    for x in ordered:
        _apply_payment(db, invoice, x, payments_out)
    if change.status:
        link.xero_status = change.status
        link.synced_at = now
        if change.status == "VOIDED" and invoice.state is InvoiceStatus.AWAITING_PAYMENT:
            try:
                void_invoice(db, invoice)
            except BillingError as error:
                log.error("invoice %s voided in Xero, not here: %s", invoice.number, error)


def _find(db: Session, xero_payment_id: str) -> Payment | None:
    return db.scalar(
        select(Payment).where(func.lower(Payment.xero_payment_id) == xero_payment_id.lower())
    )


def _apply_payment(db: Session, invoice: Invoice, x: XeroPayment, payments_out: bool) -> None:
    status = x.status
    local = _find(db, _payment_id(x))
    if status == "DELETED":
        if local is None or local.reversed_at is not None:
            return
        if local.source == PaymentSource.XERO:
            reverse_payment(db, local)
        elif local.net_amount > 0 and payments_out:
            # The card payment was taken; only a refund in the portal takes it back.
            log.warning("portal payment %s was deleted in Xero: recording it again", local.id)
            from xero.sync.outbox import enqueue

            enqueue(db, JobKind.PAYMENT, local.id)
        return
    if status != "AUTHORISED" or local is not None:
        return  # already recorded, from either side
    amount = x.amount
    twin = _portal_twin(db, invoice, x.reference, amount)
    if twin is not None:
        twin.xero_payment_id = x.payment_id
        db.flush()
        return
    if _push_running(db, invoice):
        raise PortalPushInProgress("a portal payment on this invoice is being sent to Xero")
    assert x.date is not None, "Xero dates every payment"
    try:
        with db.begin_nested():
            record_payment(
                db,
                invoice,
                amount=amount,
                paid_on=x.date,
                method="xero",
                reference=x.reference[:255],
                source=PaymentSource.XERO,
                xero_payment_id=x.payment_id,
                # Xero holds the money: on an invoice paid here meanwhile it is an
                # overpayment for an admin (billing.payments.overpayments), never dropped.
                hold_overpayment=True,
            )
    except BillingError as error:
        # Xero holds money the portal cannot take (the invoice was voided here): a person
        # must look; the log says where.
        log.error(
            "xero payment %s of %s on invoice %s not recorded: %s",
            x.payment_id,
            amount,
            invoice.number,
            error,
        )


def _portal_twin(db: Session, invoice: Invoice, reference: str, amount: Decimal) -> Payment | None:
    """A portal payment whose push to Xero was not confirmed and that this Xero payment is."""
    for payment in db.scalars(
        select(Payment).where(
            Payment.invoice_id == invoice.id,
            Payment.source == PaymentSource.PORTAL,
            Payment.xero_payment_id.is_(None),
            Payment.reversed_at.is_(None),
        )
    ):
        if xero_reference(payment) == reference and payment.net_amount == amount:
            return payment
    return None


def _push_running(db: Session, invoice: Invoice) -> bool:
    portal_ids = select(Payment.id).where(
        Payment.invoice_id == invoice.id, Payment.source == PaymentSource.PORTAL
    )
    return (
        db.scalar(
            select(SyncJob.id)
            .where(
                SyncJob.kind == JobKind.PAYMENT,
                SyncJob.status == JobStatus.RUNNING,
                SyncJob.object_id.in_(portal_ids),
            )
            .limit(1)
        )
        is not None
    )
