"""The sync outbox: domain events become SyncJob rows in the same transaction.

A job is a logical write ("this invoice must be in Xero as it is now"), so a second change
to the same object while its job is still waiting adds nothing: the waiting job will send
the object as it is when it runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billing import events
from billing.customers import Customer
from billing.invoices.model import Invoice, Payment, PaymentSource
from billing.payments.overpayments import Overpayment, credit_recorded
from xero.models import (
    ConnectionStatus,
    JobKind,
    JobStatus,
    SyncJob,
    XeroConnection,
    XeroInvoiceLink,
    XeroSettings,
)


def enqueue(db: Session, kind: JobKind, object_id: int, payload: str = "") -> SyncJob:
    if payload:
        # Jobs that carry their own content (contact notes) are never merged.
        job = SyncJob(
            kind=kind, object_id=object_id, payload=payload, idempotency_key=uuid.uuid4().hex
        )
        db.add(job)
        return job
    waiting = db.scalar(
        select(SyncJob).where(
            SyncJob.kind == kind,
            SyncJob.object_id == object_id,
            SyncJob.status == JobStatus.PENDING,
            SyncJob.attempts == 0,
        )
    )
    if waiting is not None:
        return waiting
    job = SyncJob(kind=kind, object_id=object_id, idempotency_key=uuid.uuid4().hex)
    db.add(job)
    db.flush()
    return job


def wake_payment_jobs(db: Session, invoice_ids: Collection[int], now: datetime) -> None:
    """Payment jobs that wait for their invoice to reach Xero go as soon as it has, not when
    their wait (minutes) runs out: money stays the first thing Xero hears of an invoice."""
    if not invoice_ids:
        return
    db.execute(
        update(SyncJob)
        .where(
            SyncJob.kind == JobKind.PAYMENT,
            SyncJob.status == JobStatus.PENDING,
            SyncJob.next_attempt_at > now,
            SyncJob.object_id.in_(select(Payment.id).where(Payment.invoice_id.in_(invoice_ids))),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def _invoice_changed(db: Session, invoice: Invoice) -> None:
    enqueue(db, JobKind.INVOICE, invoice.id)


def _invoice_voided(db: Session, invoice: Invoice) -> None:
    enqueue(db, JobKind.VOID_INVOICE, invoice.id)


def _invoice_deleted(db: Session, invoice: Invoice) -> None:
    # The portal sends invoices when they are issued, never as drafts: only a draft that
    # somehow reached Xero (linked) has anything to delete there.
    if db.get(XeroInvoiceLink, invoice.id) is not None:
        enqueue(db, JobKind.DELETE_INVOICE, invoice.id)


def _customer_updated(db: Session, customer: Customer) -> None:
    if customer.xero_contact_id:
        enqueue(db, JobKind.CONTACT, customer.id)


def payments_out_enabled(db: Session) -> bool:
    """The connected organisation's setting; on when nothing says otherwise."""
    setting = db.scalar(
        select(XeroSettings.sync_payments_out)
        .join(XeroConnection, XeroConnection.tenant_id == XeroSettings.tenant_id)
        .where(XeroConnection.status != ConnectionStatus.REMOVED)
        .order_by(XeroConnection.id.desc())
        .limit(1)
    )
    return setting is None or bool(setting)


def _payment_changed(db: Session, payment: Payment) -> None:
    # Payments made in Xero are already there; only the portal's own are written.
    if payment.source == PaymentSource.PORTAL and payments_out_enabled(db):
        enqueue(db, JobKind.PAYMENT, payment.id)


def _overpayment_kept(db: Session, overpayment: Overpayment) -> None:
    # Xero learns of the credit only where it knows the invoice; a portal without Xero (or
    # an invoice that never reached it) has nothing to tell.
    link = db.get(XeroInvoiceLink, overpayment.invoice_id)
    if link is not None and link.xero_invoice_id and payments_out_enabled(db):
        enqueue(db, JobKind.OVERPAYMENT_CREDIT, overpayment.id)
    else:
        credit_recorded(overpayment, None)


def register(bus: events.EventBus) -> None:
    """Subscribe the outbox to an application's domain events."""
    bus.subscribe(events.INVOICE_ISSUED, _invoice_changed)
    bus.subscribe(events.INVOICE_UPDATED, _invoice_changed)
    bus.subscribe(events.INVOICE_VOIDED, _invoice_voided)
    bus.subscribe(events.INVOICE_DELETED, _invoice_deleted)
    bus.subscribe(events.CUSTOMER_UPDATED, _customer_updated)
    bus.subscribe(events.PAYMENT_RECORDED, _payment_changed)
    bus.subscribe(events.PAYMENT_CHANGED, _payment_changed)
    bus.subscribe(events.OVERPAYMENT_KEPT, _overpayment_kept)
