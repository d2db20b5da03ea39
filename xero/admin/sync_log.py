"""The sync log as admins see it: jobs with the object they write, their attempts, and the
two decisions an admin makes about a job that stopped: Retry and Ignore.

Like every service here it flushes and never commits; the request commits once.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from billing.customers import Customer
from billing.db import utcnow
from billing.invoices.model import Invoice, Payment
from billing.payments.overpayments import Overpayment
from billing.statements import KeysetPage, keyset_page
from xero.models import (
    AuditEntry,
    JobKind,
    JobStatus,
    SyncAttempt,
    SyncJob,
    XeroInvoiceLink,
)

#: Kinds whose object_id is an invoice id; the others carry a customer id.
INVOICE_KINDS = (
    JobKind.INVOICE,
    JobKind.VOID_INVOICE,
    JobKind.DELETE_INVOICE,
    JobKind.ONLINE_INVOICE,
    JobKind.TRIAL_CLEANUP,
)
CUSTOMER_KINDS = (JobKind.CONTACT, JobKind.CONTACT_NOTE)
#: Kinds named in the log by their invoice, though the invoice's Xero panel leaves them out
#: (an e-mail is not the invoice's own state in Xero).
NAMED_BY_INVOICE = (*INVOICE_KINDS, JobKind.EMAIL_INVOICE)
#: Kinds whose object_id is a payment id: named by its reference and its invoice.
PAYMENT_KINDS = (JobKind.PAYMENT,)
#: Kinds whose object_id is an overpayment: named by the held payment and its invoice.
OVERPAYMENT_KINDS = (JobKind.OVERPAYMENT_CREDIT,)

KIND_LABELS = {
    JobKind.CONTACT: "Contact",
    JobKind.INVOICE: "Invoice",
    JobKind.VOID_INVOICE: "Void invoice",
    JobKind.DELETE_INVOICE: "Delete invoice",
    JobKind.ONLINE_INVOICE: "Online invoice link",
    JobKind.CONTACT_NOTE: "Contact history note",
    JobKind.TRIAL_CLEANUP: "Trial run clean-up",
    JobKind.EMAIL_INVOICE: "Email invoice",
    JobKind.PAYMENT: "Payment",
    JobKind.OVERPAYMENT_CREDIT: "Overpayment kept as credit",
}
STATUS_LABELS = {
    JobStatus.PENDING: "Pending",
    JobStatus.RUNNING: "Running",
    JobStatus.DONE: "Done",
    JobStatus.NEEDS_ATTENTION: "Needs attention",
    JobStatus.IGNORED: "Ignored",
}

RETRYABLE = (JobStatus.NEEDS_ATTENTION, JobStatus.IGNORED)
#: A running job belongs to a worker until its lease ends; a done one has nothing left to do.
IGNORABLE = (JobStatus.PENDING, JobStatus.NEEDS_ATTENTION)


class SyncLogError(Exception):
    """An admin asked for something the job's state does not allow; ``str`` says why."""


class JobNotFound(SyncLogError):
    pass


class LogFilter(enum.StrEnum):
    ALL = "all"
    #: Still being retried by the worker, but its attempts have failed so far.
    FAILING = "failing"
    ATTENTION = "attention"
    DONE = "done"
    IGNORED = "ignored"


def failing_clause() -> ColumnElement[bool]:
    return and_(
        SyncJob.status == JobStatus.PENDING,
        or_(SyncJob.attempts > 0, SyncJob.last_error != ""),
    )


def _filter_clause(log_filter: LogFilter) -> ColumnElement[bool] | None:
    if log_filter is LogFilter.FAILING:
        return failing_clause()
    if log_filter is LogFilter.ATTENTION:
        return SyncJob.status == JobStatus.NEEDS_ATTENTION
    if log_filter is LogFilter.DONE:
        return SyncJob.status == JobStatus.DONE
    if log_filter is LogFilter.IGNORED:
        return SyncJob.status == JobStatus.IGNORED
    return None


@dataclass(frozen=True)
class JobRow:
    """A job with what the log shows about its object, read in the page's one query."""

    job: SyncJob
    invoice_id: int | None
    invoice_number: str | None
    customer_id: int | None
    customer_name: str | None
    #: For payment jobs: what Xero shows as the payment's Reference.
    payment_reference: str | None = None

    @property
    def attempts_made(self) -> int:
        """What the log shows as Attempts. ``job.attempts`` counts the failed attempts since
        the job was queued or last retried (it drives the backoff and the stop after
        max_attempts); a finished job also made the attempt that worked."""
        return self.job.attempts + (1 if self.job.status == JobStatus.DONE else 0)

    @property
    def object_label(self) -> str:
        invoice = (
            f"Invoice {self.invoice_number or f'Draft {self.invoice_id}'}"
            if self.invoice_id is not None
            else None
        )
        if self.job.kind in PAYMENT_KINDS:
            if self.payment_reference is None:
                return f"Payment {self.job.object_id} (deleted)"
            return f"Payment {self.payment_reference} on {invoice}"
        if self.job.kind in OVERPAYMENT_KINDS:
            if self.payment_reference is None:
                return f"Overpayment {self.job.object_id} (deleted)"
            return f"Overpayment by {self.payment_reference} on {invoice}"
        if invoice is not None:
            return invoice
        if self.customer_name is not None:
            return self.customer_name
        noun = "Invoice" if self.job.kind in NAMED_BY_INVOICE else "Customer"
        return f"{noun} {self.job.object_id} (deleted)"


def _row(r: Row[*tuple[Any, ...]]) -> JobRow:
    return JobRow(r[0], r[1], r[2], r[3], r[4], _reference(r[5], r[6], r[7], r[8]))


def _reference(
    payment_id: int | None, reference: str | None, charge: str | None, gateway_payment: str | None
) -> str | None:
    # The same fallbacks as xero.sync.payments.xero_reference, from the joined columns.
    if payment_id is None:
        return None
    return reference or charge or gateway_payment or f"Portal payment {payment_id}"


def _rows() -> Select[*tuple[Any, ...]]:
    """Jobs with their invoice number, customer name or payment reference, by outer joins
    on the job's kind."""
    invoice = aliased(Invoice)
    customer = aliased(Customer)
    invoice_customer = aliased(Customer)
    payment = aliased(Payment)
    overpayment = aliased(Overpayment)
    return (
        select(
            SyncJob,
            invoice.id,
            invoice.number,
            func.coalesce(customer.id, invoice_customer.id),
            func.coalesce(customer.name, invoice_customer.name),
            payment.id,
            payment.reference,
            payment.gateway_charge_id,
            payment.gateway_payment_id,
        )
        .outerjoin(
            overpayment,
            and_(SyncJob.kind.in_(OVERPAYMENT_KINDS), overpayment.id == SyncJob.object_id),
        )
        .outerjoin(
            payment,
            or_(
                and_(SyncJob.kind.in_(PAYMENT_KINDS), payment.id == SyncJob.object_id),
                payment.id == overpayment.payment_id,
            ),
        )
        .outerjoin(
            invoice,
            or_(
                and_(SyncJob.kind.in_(NAMED_BY_INVOICE), invoice.id == SyncJob.object_id),
                invoice.id == payment.invoice_id,
            ),
        )
        .outerjoin(invoice_customer, invoice_customer.id == invoice.customer_id)
        .outerjoin(
            customer, and_(SyncJob.kind.in_(CUSTOMER_KINDS), customer.id == SyncJob.object_id)
        )
    )


def job_page(
    db: Session,
    log_filter: LogFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    per_page: int,
) -> KeysetPage:
    """One page of the log, newest first, in one query (and one EXISTS for the way back):
    keyset pages by job id, so no page counts or skips over every job ever written."""
    stmt = _rows()
    clause = _filter_clause(log_filter)
    if clause is not None:
        stmt = stmt.where(clause)
    return keyset_page(
        db,
        stmt,
        (SyncJob.id,),
        lambda row: row.job.id,
        before=before,
        after=after,
        per_page=per_page,
        rows_of=lambda query: [_row(r) for r in db.execute(query)],
    )


def job_row(db: Session, job_id: int) -> JobRow:
    row = db.execute(_rows().where(SyncJob.id == job_id)).first()
    if row is None:
        raise JobNotFound(f"There is no sync job {job_id}.")
    return _row(row)


def attempts(db: Session, job_id: int) -> list[SyncAttempt]:
    return list(
        db.scalars(select(SyncAttempt).where(SyncAttempt.job_id == job_id).order_by(SyncAttempt.id))
    )


@dataclass(frozen=True)
class SyncHealth:
    failing: int
    needs_attention: int


def health(db: Session) -> SyncHealth:
    """How many jobs are failing and how many wait for an admin, in one query."""
    failing, attention = db.execute(
        select(
            func.coalesce(func.sum(case((failing_clause(), 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((SyncJob.status == JobStatus.NEEDS_ATTENTION, 1), else_=0)), 0
            ),
        )
        # Only these two statuses count (index ix_xero_sync_jobs_due): done jobs, nearly
        # all of them, are never read.
        .where(SyncJob.status.in_((JobStatus.PENDING, JobStatus.NEEDS_ATTENTION)))
    ).one()
    return SyncHealth(failing=int(failing), needs_attention=int(attention))


def _locked_job(db: Session, job_id: int) -> SyncJob:
    # FOR UPDATE: a worker's claim (SKIP LOCKED) passes this job by while the admin's
    # decision is being written, and a job a worker already claimed shows as running.
    job = db.scalar(
        select(SyncJob)
        .where(SyncJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise JobNotFound(f"There is no sync job {job_id}.")
    return job


def _audit(db: Session, user_id: int | None, action: str, job: SyncJob, detail: str) -> None:
    db.add(
        AuditEntry(
            user_id=user_id,
            action=action,
            subject=f"sync job {job.id} ({job.kind} {job.object_id})",
            detail=detail,
        )
    )


def retry_job(
    db: Session, job_id: int, user_id: int | None, now: datetime | None = None
) -> SyncJob:
    """Put a job that stopped (needs attention, or ignored) back in the queue, due now, with
    its attempts counted from zero."""
    job = _locked_job(db, job_id)
    if job.status not in RETRYABLE:
        raise SyncLogError(
            f"Only a job that needs attention or was ignored can be retried; this one is "
            f"{STATUS_LABELS[JobStatus(job.status)].lower()}."
        )
    previous = job.status
    # The Idempotency-Key is kept only while an earlier attempt's outcome is unknown:
    # such an attempt may have written to Xero, and replaying its key lets Xero answer
    # with that write instead of making a second one (and outcome_unknown stays set, so the
    # worker looks the object up before writing). When every earlier attempt is known to
    # have failed, nothing reached Xero, and Xero replays the stored answer for a key it
    # has seen: the same key would bring back the old refusal even after the admin fixed
    # the data (a tax mapping, a contact name). So those jobs get a new key.
    new_key = not job.outcome_unknown
    if new_key:
        job.idempotency_key = uuid.uuid4().hex
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.next_attempt_at = now or utcnow()
    job.locked_until = None
    job.last_error = ""
    _audit(
        db,
        user_id,
        "sync_job.retry",
        job,
        f"{previous} -> pending; "
        + ("new idempotency key" if new_key else "idempotency key kept (outcome unknown)"),
    )
    db.flush()
    return job


def ignore_job(db: Session, job_id: int, user_id: int | None) -> SyncJob:
    """Stop a job for good: the worker never takes it again (unless an admin retries it)."""
    job = _locked_job(db, job_id)
    if job.status not in IGNORABLE:
        raise SyncLogError(
            f"Only a pending job or one that needs attention can be ignored; this one is "
            f"{STATUS_LABELS[JobStatus(job.status)].lower()}."
        )
    previous = job.status
    job.status = JobStatus.IGNORED
    job.locked_until = None
    _audit(
        db,
        user_id,
        "sync_job.ignore",
        job,
        f"{previous} -> ignored; last error: {job.last_error or 'none'}"[:2000],
    )
    db.flush()
    return job


# -- an invoice's Xero status ----------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceXeroStatus:
    """What the invoice page says about Xero: its link, and the job still open, if any."""

    link: XeroInvoiceLink | None
    #: The newest job for this invoice that is not done or ignored.
    open_job: SyncJob | None

    @property
    def in_xero(self) -> bool:
        return self.link is not None and bool(self.link.xero_invoice_id)

    @property
    def failed_job(self) -> SyncJob | None:
        job = self.open_job
        if job is None:
            return None
        if job.status == JobStatus.NEEDS_ATTENTION or job.attempts > 0 or job.last_error:
            return job
        return None

    @property
    def queued(self) -> bool:
        return self.open_job is not None and self.failed_job is None


def invoice_status(db: Session, invoice_id: int) -> InvoiceXeroStatus:
    link = db.get(XeroInvoiceLink, invoice_id)
    open_job = db.scalar(
        select(SyncJob)
        .where(
            SyncJob.kind.in_(INVOICE_KINDS),
            SyncJob.object_id == invoice_id,
            SyncJob.status.in_((JobStatus.PENDING, JobStatus.RUNNING, JobStatus.NEEDS_ATTENTION)),
        )
        .order_by(
            # A job that stopped matters most to the admin; then the newest.
            case((SyncJob.status == JobStatus.NEEDS_ATTENTION, 0), else_=1),
            SyncJob.id.desc(),
        )
        .limit(1)
    )
    return InvoiceXeroStatus(link=link, open_job=open_job)


def customer_open_job(db: Session, customer_id: int) -> SyncJob | None:
    """The newest contact job for this customer that is not done or ignored."""
    return db.scalar(
        select(SyncJob)
        .where(
            SyncJob.kind == JobKind.CONTACT,
            SyncJob.object_id == customer_id,
            SyncJob.status.in_((JobStatus.PENDING, JobStatus.RUNNING, JobStatus.NEEDS_ATTENTION)),
        )
        .order_by(
            case((SyncJob.status == JobStatus.NEEDS_ATTENTION, 0), else_=1),
            SyncJob.id.desc(),
        )
        .limit(1)
    )


def resend_invoice(db: Session, invoice_id: int, user_id: int | None, detail: str) -> SyncJob:
    """Send an invoice to Xero again after an admin corrected it: its stopped invoice job is
    retried (with a new Idempotency-Key, so Xero does not replay its old refusal), or, when
    none stopped, a job is queued. ``detail`` says what was corrected, for the audit log."""
    stopped = db.scalar(
        select(SyncJob.id)
        .where(
            SyncJob.kind == JobKind.INVOICE,
            SyncJob.object_id == invoice_id,
            SyncJob.status.in_(RETRYABLE),
        )
        .order_by(SyncJob.id.desc())
        .limit(1)
    )
    if stopped is not None:
        job = retry_job(db, stopped, user_id)
    else:
        from xero.sync.outbox import enqueue

        job = enqueue(db, JobKind.INVOICE, invoice_id)
    db.add(
        AuditEntry(
            user_id=user_id,
            action="invoice.correct",
            subject=f"invoice {invoice_id}",
            detail=detail,
        )
    )
    db.flush()
    return job
