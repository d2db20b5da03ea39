"""Taking back a trial run's test invoice, for real, in the order the books allow.

Xero refuses to void an invoice while a payment is allocated to it, and a card payment taken
in the portal is money in Stripe until it is refunded there. So a clean-up is a process, not
a button: the admin's request records a ``TrialCleanup`` row and a TRIAL_CLEANUP job in one
transaction (``request_clean_up``), and the worker carries out, per invoice:

1. every card payment taken in the portal refunded in Stripe, and the refund recorded here
   (``record_refund``, which re-states the payment in Xero through its PAYMENT job);
2. every payment Xero has on the invoice deleted there (the real PaymentIDs, read from
   Xero), and the portal's copies reversed: a payment made in Xero is reversed, a card
   payment forgets its Xero id as the payment sync does;
3. the invoice voided in Xero (``change_status``, as the VOID_INVOICE job does);
4. only then the invoice voided here (``void_invoice``).

Each step stamps its time on the row when done, so a retry (the outbox's backoff) starts at
the first step not done, and each is safe to repeat: Stripe is asked what is already
refunded before refunding, a payment already deleted in Xero counts as deleted, and every
portal write goes through the invoice lock. No transaction stays open during a call to
Stripe or Xero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.cards.gateways import CardGateway, GatewayError, GatewayNotFound, from_minor_units
from billing.db import outside_transaction
from billing.errors import BillingError
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.invoices.operations import void_invoice
from billing.payments.operations import record_refund, reverse_payment
from xero.api.errors import (
    AuthLost,
    NotConnected,
    RateLimited,
    Retryable,
    ValidationFailed,
    XeroError,
)
from xero.api.port import XeroPort
from xero.models import JobKind, JobStatus, SyncJob, TrialCleanup, XeroInvoiceLink
from xero.sync.invoices import Results, change_status
from xero.sync.outbox import enqueue
from xero.sync.payments import delete_in_xero, is_deleted, payments_in_xero

log = logging.getLogger(__name__)

GatewayFor = Callable[[Session], CardGateway]
_gateway_for: GatewayFor | None = None


def register_gateway(gateway_for: GatewayFor) -> None:
    """How the worker reaches Stripe (the portal's keys live in its settings)."""
    global _gateway_for
    _gateway_for = gateway_for


class StripeUnavailable(Retryable):
    """Stripe could not be reached or refused for now: the clean-up tries again later."""


class StillInFlight(Retryable):
    """Another job is writing this invoice or its payments to Xero right now: wait for it,
    or this clean-up could delete a payment list that is about to grow."""


# -- the admin's request -------------------------------------------------------------------


def request_clean_up(
    db: Session, invoices: Sequence[Invoice], *, requested_by_id: int | None
) -> list[Invoice]:
    """Record a clean-up of each invoice not already voided or being cleaned up, with its
    job, in the caller's transaction. Returns the invoices whose clean-up started."""
    started = []
    for candidate in invoices:
        invoice = lock_invoice(db, candidate.id)  # a double submit waits, then sees the row
        if invoice.state in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            continue
        if db.scalar(select(TrialCleanup.id).where(TrialCleanup.invoice_id == invoice.id)):
            continue
        db.add(TrialCleanup(invoice_id=invoice.id, requested_by_id=requested_by_id))
        enqueue(db, JobKind.TRIAL_CLEANUP, invoice.id)
        started.append(invoice)
    db.flush()
    return started


def cleanup_of(db: Session, invoice_id: int) -> TrialCleanup | None:
    return db.scalar(select(TrialCleanup).where(TrialCleanup.invoice_id == invoice_id))


def cleanup_job(db: Session, invoice_id: int) -> SyncJob | None:
    return db.scalar(
        select(SyncJob)
        .where(SyncJob.kind == JobKind.TRIAL_CLEANUP, SyncJob.object_id == invoice_id)
        .order_by(SyncJob.id.desc())
        .limit(1)
    )


def card_payments(invoice: Invoice) -> list[Payment]:
    """Payments the portal took by card: money in Stripe that only a refund gives back."""
    return [
        p for p in invoice.payments if p.source == PaymentSource.PORTAL and p.gateway_payment_id
    ]


# -- the worker's side ---------------------------------------------------------------------


def carry_out(db: Session, api: XeroPort, jobs: Sequence[SyncJob], now: datetime) -> Results:
    """The TRIAL_CLEANUP jobs of one batch, one invoice at a time."""
    results: Results = {}
    for index, job in enumerate(jobs):
        try:
            _clean_up(db, api, job, now)
        except (RateLimited, AuthLost, NotConnected) as error:
            db.rollback()
            results.update({rest.id: error for rest in jobs[index:]})
            break
        except XeroError as error:
            db.rollback()
            results[job.id] = error
        except BillingError as error:
            db.rollback()
            results[job.id] = ValidationFailed([str(error)])
        else:
            results[job.id] = None
    return results


def _clean_up(db: Session, api: XeroPort, job: SyncJob, now: datetime) -> None:
    invoice_id = job.object_id
    cleanup = cleanup_of(db, invoice_id)
    if cleanup is None or cleanup.finished_at is not None:
        outside_transaction(db)
        return
    if cleanup.refunded_at is None:
        _refund_cards(db, cleanup, invoice_id, now)
    if cleanup.xero_payments_deleted_at is None:
        _delete_xero_payments(db, api, cleanup, invoice_id, job.idempotency_key, now)
    if cleanup.xero_voided_at is None:
        _void_in_xero(db, api, cleanup, job, now)
    _void_here(db, cleanup, invoice_id, now)


def _refund_cards(db: Session, cleanup: TrialCleanup, invoice_id: int, now: datetime) -> None:
    invoice = db.get(Invoice, invoice_id)
    owed = [p for p in card_payments(invoice) if p.net_amount > 0] if invoice else []
    gateway = None
    if owed:
        if _gateway_for is None:
            raise ValidationFailed(["Card payments are not set up, so Stripe cannot refund."])
        try:
            gateway = _gateway_for(db)
        except GatewayError as error:
            raise StripeUnavailable(str(error)) from error
    outside_transaction(db)
    for payment in owed:
        assert gateway is not None
        refunded_total = _refund_in_stripe(gateway, payment, cleanup)
        record_refund(db, payment, refunded_total)  # locks the invoice, re-reads the payment
        outside_transaction(db)
    cleanup.refunded_at = now
    outside_transaction(db)


def _refund_in_stripe(gateway: CardGateway, payment: Payment, cleanup: TrialCleanup) -> Decimal:
    """Refund what Stripe has not refunded yet of the payment's charge; returns the charge's
    refund total. Stripe is asked first, so a refund whose answer was lost is not repeated."""
    assert payment.gateway_payment_id is not None
    try:
        intent = gateway.payment_intent(payment.gateway_payment_id)
        charge = intent.latest_charge
        if charge is None:
            raise ValidationFailed([f"Stripe has no charge for {payment.gateway_payment_id}."])
        remaining = charge.amount - charge.amount_refunded
        if remaining > 0:
            refund = gateway.refund(
                payment.gateway_payment_id,
                amount=remaining,
                idempotency_key=f"trial-cleanup-{cleanup.id}-{payment.id}",
            )
            if refund.status in ("failed", "canceled"):
                refused = f"Stripe refused the refund {refund.id} ({refund.status})."
                raise ValidationFailed([refused])
        log.info("trial clean-up: %s refunded in Stripe", payment.gateway_payment_id)
        return from_minor_units(charge.amount, charge.currency)
    except GatewayNotFound as error:
        raise ValidationFailed([f"Stripe: {error}"]) from error
    except GatewayError as error:
        raise StripeUnavailable(str(error)) from error


def _in_flight(db: Session, invoice_id: int) -> bool:
    """A push of the invoice or of one of its payments is being carried out right now."""
    payment_ids = select(Payment.id).where(Payment.invoice_id == invoice_id)
    running = select(SyncJob.id).where(
        SyncJob.status == JobStatus.RUNNING,
        (
            (SyncJob.kind == JobKind.INVOICE) & (SyncJob.object_id == invoice_id)
            | (SyncJob.kind == JobKind.PAYMENT) & SyncJob.object_id.in_(payment_ids)
        ),
    )
    return db.scalar(running.limit(1)) is not None


def _invoice_waiting_for_xero(db: Session, invoice_id: int) -> bool:
    return (
        db.scalar(
            select(SyncJob.id)
            .where(
                SyncJob.kind == JobKind.INVOICE,
                SyncJob.object_id == invoice_id,
                SyncJob.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
            )
            .limit(1)
        )
        is not None
    )


def _delete_xero_payments(
    db: Session, api: XeroPort, cleanup: TrialCleanup, invoice_id: int, key: str, now: datetime
) -> None:
    if _in_flight(db, invoice_id):
        raise StillInFlight("A payment of this invoice is being written to Xero; waiting.")
    link = db.get(XeroInvoiceLink, invoice_id)
    xero_invoice_id = link.xero_invoice_id if link else None
    if not xero_invoice_id and _invoice_waiting_for_xero(db, invoice_id):
        raise StillInFlight("The invoice is still on its way to Xero; waiting.")
    outside_transaction(db)
    deleted: set[str] = set()
    if xero_invoice_id:
        for x in payments_in_xero(api, xero_invoice_id):
            if not is_deleted(x):
                delete_in_xero(api, str(x.payment_id), key=key)
                log.info("trial clean-up: xero payment %s deleted", x.payment_id)
            deleted.add(str(x.payment_id).lower())
    invoice = lock_invoice(db, invoice_id)
    for payment in invoice.payments:
        in_xero = (payment.xero_payment_id or "").lower() in deleted
        if payment.source == PaymentSource.PORTAL and in_xero:
            payment.xero_payment_id = None  # gone from Xero, as the payment sync leaves it
        if payment.net_amount > 0:
            # Made in Xero (now deleted there), or recorded here without a card: taken back.
            reverse_payment(db, payment)
    cleanup.xero_payments_deleted_at = now
    outside_transaction(db)


def _void_in_xero(
    db: Session, api: XeroPort, cleanup: TrialCleanup, job: SyncJob, now: datetime
) -> None:
    """What the VOID_INVOICE job does, keyed on this job (one Idempotency-Key per clean-up)."""
    error = change_status(db, api, [job], "VOIDED", now).get(job.id)
    if error is not None:
        assert isinstance(error, XeroError)  # change_status decides no waits of its own
        raise error
    cleanup.xero_voided_at = now
    outside_transaction(db)


def _void_here(db: Session, cleanup: TrialCleanup, invoice_id: int, now: datetime) -> None:
    invoice = db.get(Invoice, invoice_id)
    if invoice is not None:
        try:
            void_invoice(db, invoice)
        except BillingError as error:
            raise ValidationFailed(
                [f"Voided in Xero, but not here: {error} Take the payment back by hand."]
            ) from error
    cleanup.finished_at = now
    outside_transaction(db)
