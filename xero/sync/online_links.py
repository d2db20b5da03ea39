"""Xero's online invoice links ("Pay online via Xero"), fetched when a member asks.

The worker fetches every pushed invoice's link in the background (ONLINE_INVOICE jobs, one
call each, after the batched writes): at month end the last of a thousand would come some
twenty minutes after the invoices reached Xero. A member who asks to pay via Xero before
that gets the link at once instead, from the calls of the minute that background work
leaves to members (``ratelimit.MEMBER_RESERVE``).

Whoever fetches a link holds its invoice's ONLINE_INVOICE job, claimed as the worker claims
jobs (SKIP LOCKED, a lease), so a member and the worker, or two members, never fetch the same
link at once: the one that finds the job held is told the link is on its way. No row lock is
held while Xero answers; the link row is locked and re-read before it is written, and a link
already stored (by the other) is kept, never overwritten.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing import jobs as queue
from billing.db import outside_transaction
from xero.api.errors import XeroError
from xero.models import JobKind, JobStatus, SyncAttempt, SyncJob, XeroInvoiceLink

if TYPE_CHECKING:
    from xero.integration import XeroIntegration

log = logging.getLogger(__name__)

#: How long a member's fetch holds the invoice's job: past it, the worker takes it up.
MEMBER_LEASE = timedelta(minutes=1)


def locked_link(db: Session, invoice_id: int) -> XeroInvoiceLink | None:
    """The invoice's link row, locked for this transaction and read afresh."""
    return db.scalar(
        select(XeroInvoiceLink)
        .where(XeroInvoiceLink.invoice_id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def store_link(db: Session, invoice_id: int, url: str) -> str:
    """Store a fetched link unless one is stored already; returns the link that stands."""
    link = locked_link(db, invoice_id)
    if link is None:
        return ""
    if not link.online_invoice_url and url:
        link.online_invoice_url = url
        db.flush()
    return link.online_invoice_url


def _claim(db: Session, invoice_id: int, now: datetime) -> tuple[SyncJob | None, bool]:
    """The invoice's open ONLINE_INVOICE job, claimed for a member's fetch: (job, held
    elsewhere). Pending jobs are taken whenever they were due (the member does not wait for
    the background's budget); a job another fetch holds is left alone. No open job at all
    (none was queued, or it stopped in front of an admin): (None, False), and the member's
    fetch goes ahead unclaimed."""
    rows = queue.lock(
        db,
        select(SyncJob)
        .where(
            SyncJob.kind == JobKind.ONLINE_INVOICE,
            SyncJob.object_id == invoice_id,
            or_(SyncJob.status == JobStatus.PENDING, queue.lease_expired(SyncJob, now)),
        )
        .order_by(SyncJob.id)
        .limit(1),
    )
    if rows:
        queue.take(rows, now, MEMBER_LEASE)
        return rows[0], False
    # Running, or pending but locked by a claim not committed yet (SKIP LOCKED passed it).
    held = db.scalar(
        select(SyncJob.id)
        .where(
            SyncJob.kind == JobKind.ONLINE_INVOICE,
            SyncJob.object_id == invoice_id,
            SyncJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]),
        )
        .limit(1)
    )
    return None, held is not None


def fetch_for_member(service: XeroIntegration, db: Session, invoice_id: int) -> str:
    """The invoice's online link: stored, or fetched now if it is in Xero and nobody else is
    fetching it. "" when it cannot be had now (not in Xero yet, being fetched by the
    worker or another member, the minute spent, Xero failing): the background job still
    fetches it. Ends the caller's transaction before Xero is called; what it writes (the
    link, the job done) is flushed for the caller to commit."""
    link = db.get(XeroInvoiceLink, invoice_id)
    if link is None or not link.xero_invoice_id:
        return ""
    if link.online_invoice_url:
        return link.online_invoice_url
    xero_invoice_id = link.xero_invoice_id
    now = service.clock()
    job, held = _claim(db, invoice_id, now)
    if held:
        return ""
    try:
        api = service.member_api(db)
        outside_transaction(db)  # the claim stands; no lock is held while Xero answers
        url = api.online_invoice_url(xero_invoice_id)
    except XeroError as error:
        log.info("online invoice link for invoice %s on demand: %s", invoice_id, error)
        db.rollback()
        if job is not None:
            _release(db, job.id)
        return ""
    stored = store_link(db, invoice_id, url)
    if job is not None:
        _done(db, job.id, service.clock())
    return stored


def _held(db: Session, job_id: int) -> SyncJob | None:
    job = db.scalar(
        select(SyncJob)
        .where(SyncJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return job if job is not None and job.status == JobStatus.RUNNING else None


def _done(db: Session, job_id: int, now: datetime) -> None:
    job = _held(db, job_id)
    if job is None:
        return
    job.status = JobStatus.DONE
    job.locked_until = None
    job.last_error = ""
    db.add(SyncAttempt(job=job, outcome="ok", message="fetched when a member asked", at=now))
    db.flush()


def _release(db: Session, job_id: int) -> None:
    """Give the job back to the worker, as it was before the member's fetch."""
    job = _held(db, job_id)
    if job is not None:
        job.status = JobStatus.PENDING
        job.locked_until = None
    outside_transaction(db)
