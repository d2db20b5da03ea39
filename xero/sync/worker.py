"""The sync worker: claims due jobs from the outbox, carries them out in batches, and
records every attempt.

The outbox is a ``billing.jobs`` queue: claims with SKIP LOCKED and a lease, backoff with
jitter. What each job's answer from Xero means (done, retry at, wait for, failed) is decided
in one place, ``outcome``, and recorded by ``_record``.

Transactions are short: a claim, a token check, the result. None is held open while Xero is
being called, so SQLite's single writer lock never waits on the network.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from billing import jobs as queue
from billing.customers import Customer
from billing.db import outside_transaction, utcnow
from billing.invoices.model import Invoice
from xero.api.errors import (
    AuthLost,
    NotConnected,
    RateLimited,
    Retryable,
    ValidationFailed,
    XeroError,
)
from xero.api.idempotency import idempotency_key
from xero.api.port import XeroPort
from xero.models import ConnectionStatus, JobKind, JobStatus, SyncAttempt, SyncJob, XeroConnection
from xero.sync import contacts
from xero.sync.invoices import (
    Results,
    TenantSettings,
    batch_key,
    change_status,
    email_invoices,
    fetch_online_links,
    one_call_each,
    push_invoices,
)

log = logging.getLogger(__name__)

#: Customers whose contacts link_contacts_ahead handles in one round.
CONTACTS_AHEAD = 500

#: Contacts before invoices (an invoice needs its contact), invoices before their payments.
ORDER = (
    JobKind.CONTACT,
    JobKind.INVOICE,
    JobKind.VOID_INVOICE,
    JobKind.DELETE_INVOICE,
    JobKind.PAYMENT,
    JobKind.OVERPAYMENT_CREDIT,
    # After the payment jobs: a clean-up takes back what they wrote.
    JobKind.TRIAL_CLEANUP,
)
#: One call per object, so they only use what the batched writes leave of the rate budget:
#: they run in a round only when none of the kinds above had anything due, and only up to
#: ``ratelimit.FOLLOW_UP_SHARE`` of the minute's budget (reads of Xero's payments come between
#: rounds, from the inbox, and need room too).
DEFERRED = (JobKind.ONLINE_INVOICE, JobKind.EMAIL_INVOICE, JobKind.CONTACT_NOTE)


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 50
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=5)
    backoff_base: float = 10.0
    backoff_cap: float = 3600.0
    #: How long jobs wait while Xero is disconnected before they look again.
    disconnected_wait: timedelta = timedelta(minutes=5)
    #: How long a job waits for another object to reach Xero, or for Xero's own payments
    #: to be read back, before it looks again (a pushed invoice wakes its payments at once).
    dependency_wait: timedelta = timedelta(minutes=1)


@dataclass
class Connected:
    """What a batch needs: an API for the organisation and its settings."""

    api: XeroPort
    settings: TenantSettings
    #: The same organisation for the DEFERRED kinds: calls that carry no money, held to a
    #: smaller share of the minute's budget (``ratelimit.FOLLOW_UP_SHARE``).
    follow_up_api: XeroPort | None = None
    #: Called when Xero refused the access token before its expiry: refreshes at once, or
    #: raises AuthLost having marked the connection reconnect_needed.
    access_refused: Callable[[Session], object] | None = None


ApiProvider = Callable[[Session], Connected]

#: What a handler gives back for one job: None when done, an error of the Xero adapter, or
#: a wait the handler decided on.
Answer = XeroError | queue.WaitFor | None


def drain(run_once: Callable[[], int], max_rounds: int = 10_000) -> int:
    """Call ``run_once`` until a round handles nothing; returns how much was handled."""
    total = 0
    for _ in range(max_rounds):
        handled = run_once()
        if not handled:
            break
        total += handled
    return total


class SyncWorker:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        connect: ApiProvider,
        *,
        clock: Callable[[], datetime] = utcnow,
        config: WorkerConfig | None = None,
        rng: random.Random | None = None,
    ):
        self.session_factory = session_factory
        self.connect = connect
        self.clock = clock
        self.config = config or WorkerConfig()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    # -- the loop ----------------------------------------------------------------------

    def run_once(self) -> int:
        """One batch of each kind that has due jobs. Returns how many jobs it handled."""
        self.link_contacts_ahead()
        handled = self._round(ORDER)
        return handled or self._round(DEFERRED)

    def link_contacts_ahead(self) -> int:
        """Link or create, in one go, the Xero contacts of every customer with an invoice due
        to be sent, so that invoice batches need no contact calls of their own. Month end
        issues hundreds of invoices for new customers at once: looked up and created 50 at a
        time across all batches they cost a few calls, per batch they would cost many.

        Best effort: any failure is left for the invoice jobs themselves to meet and record.
        """
        now = self.clock()
        with self.session_factory() as db:
            due_invoices = (
                select(Invoice.customer_id)
                .join(SyncJob, SyncJob.object_id == Invoice.id)
                .where(
                    SyncJob.kind == JobKind.INVOICE,
                    SyncJob.status == JobStatus.PENDING,
                    SyncJob.next_attempt_at <= now,
                )
            )
            customers = list(
                db.scalars(
                    select(Customer)
                    .where(Customer.id.in_(due_invoices), Customer.xero_contact_id.is_(None))
                    .order_by(Customer.id)
                    .limit(CONTACTS_AHEAD)
                )
            )
            if len(customers) < 2:
                return 0  # a single contact costs the invoice batch no more than it costs here
            try:
                connected = self.connect(db)
                outside_transaction(db)
                key = idempotency_key("ahead", ",".join(str(c.id) for c in customers))
                outcomes = contacts.ensure_contacts(connected.api, customers, key)
                contacts.note_changes(db, customers, outcomes, now)
                db.commit()
            except XeroError as error:
                db.rollback()
                if isinstance(error, RateLimited):
                    self._block(db, error)
                    db.commit()
                return 0
            return sum(1 for o in outcomes.values() if o.contact_id)

    def _round(self, kinds: Iterable[JobKind]) -> int:
        handled = 0
        for kind in kinds:
            ids = self.claim(kind)
            if ids:
                self.process(kind, ids)
                handled += len(ids)
        return handled

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run until no job is due (tests, the benchmark, ``flask xero worker --once``)."""
        return drain(self.run_once, max_rounds)

    # -- claiming ----------------------------------------------------------------------

    def claim(self, kind: JobKind) -> list[int]:
        now = self.clock()
        with self.session_factory() as db, db.begin():
            connection = db.scalar(
                select(XeroConnection.status).order_by(XeroConnection.id.desc()).limit(1)
            )
            if connection != ConnectionStatus.ACTIVE:
                return []  # paused: removed or waiting for a reconnect
            # One job per object at a time: a later job for an object whose earlier one is
            # still being carried out (by this or another worker) waits its turn.
            other = aliased(SyncJob)
            busy = exists().where(
                other.kind == SyncJob.kind,
                other.object_id == SyncJob.object_id,
                other.id != SyncJob.id,
                other.status == JobStatus.RUNNING,
                other.locked_until >= now,
            )
            rows = queue.lock(
                db,
                select(SyncJob)
                .where(SyncJob.kind == kind, queue.due(SyncJob, now), ~busy)
                .order_by(SyncJob.id)
                .limit(self.config.batch_size),
            )
            claimed: list[SyncJob] = []
            objects = set()
            for job in rows:
                if job.object_id in objects:
                    continue  # the same object twice in one batch: the later job waits
                objects.add(job.object_id)
                claimed.append(job)
            queue.take(claimed, now, self.config.lease)
            return [job.id for job in claimed]

    # -- carrying out ------------------------------------------------------------------

    def process(self, kind: JobKind, ids: list[int]) -> None:
        with self.session_factory() as db:
            jobs = list(db.scalars(select(SyncJob).where(SyncJob.id.in_(ids)).order_by(SyncJob.id)))
            connected = None
            try:
                connected = self.connect(db)
                outside_transaction(db)  # end the read transaction before calling Xero
                results = self._handle(db, kind, jobs, connected)
            except XeroError as error:
                results = {job.id: error for job in jobs}
            limited = next(
                (
                    e
                    for e in results.values()
                    if isinstance(e, RateLimited) and e.whole_organisation
                ),
                None,
            )
            if limited is not None:
                self._block(db, limited)
            for job in jobs:
                self._record(db, job, results.get(job.id))
            if connected is not None:
                self._note_health(db, results)
            db.commit()
            if connected is not None and any(isinstance(e, AuthLost) for e in results.values()):
                self._access_refused(db, connected)

    def _note_health(self, db: Session, results: Results) -> None:
        """Last successful call and last failure, for the connection's health panel. Xero
        refusing one invoice's data is not a connection failure; an unanswered call is."""
        from xero.api.connection import record_failure, record_success
        from xero.api.tokens import active_connection

        connection = active_connection(db)
        if connection is None:
            return
        now = self.clock()
        if any(error is None for error in results.values()):
            record_success(connection, now)
        # A job waiting for another object (a queue.WaitFor) says nothing of the connection.
        failure = next(
            (
                e
                for e in results.values()
                if isinstance(e, XeroError) and not isinstance(e, ValidationFailed)
            ),
            None,
        )
        if failure is not None:
            record_failure(connection, failure, now)

    def _access_refused(self, db: Session, connected: Connected) -> None:
        """Xero refused a token the portal held valid: the grant was revoked or the app
        disconnected in Xero. Refresh now; if Xero refuses the refresh token too, the
        connection is marked reconnect_needed and every job waits for an admin, instead
        of each batch finding out again every few minutes while the connection looks fine."""
        if connected.access_refused is None:
            return
        try:
            connected.access_refused(db)
            db.commit()
        except XeroError as error:
            db.rollback()
            log.warning("xero connection: %s", error)

    def _handle(
        self, db: Session, kind: JobKind, jobs: list[SyncJob], connected: Connected
    ) -> Results:
        now = self.clock()
        api, settings = connected.api, connected.settings
        if kind in DEFERRED and connected.follow_up_api is not None:
            api = connected.follow_up_api
        if kind is JobKind.INVOICE:
            return push_invoices(db, api, jobs, settings, now)
        if kind is JobKind.VOID_INVOICE:
            return change_status(db, api, jobs, "VOIDED", now)
        if kind is JobKind.DELETE_INVOICE:
            return change_status(db, api, jobs, "DELETED", now)
        if kind is JobKind.ONLINE_INVOICE:
            return fetch_online_links(db, api, jobs)
        if kind is JobKind.EMAIL_INVOICE:
            return email_invoices(db, api, jobs)
        if kind is JobKind.CONTACT:
            return self._contacts(db, api, jobs, rename=settings.sync_client_names)
        if kind is JobKind.CONTACT_NOTE:
            return self._notes(db, api, jobs)
        if kind is JobKind.PAYMENT:
            from xero.sync.payments import push_payments

            return push_payments(db, api, jobs, now)
        if kind is JobKind.OVERPAYMENT_CREDIT:
            from xero.sync.overpayment_credit import push_credits

            return push_credits(db, api, jobs, now)
        if kind is JobKind.TRIAL_CLEANUP:
            from xero.sync.trial_cleanup import carry_out

            return carry_out(db, api, jobs, now)
        raise ValueError(f"unknown job kind {kind}")

    def _contacts(
        self, db: Session, api: XeroPort, jobs: list[SyncJob], *, rename: bool
    ) -> Results:
        customers = {
            c.id: c
            for c in db.scalars(
                select(Customer).where(Customer.id.in_([j.object_id for j in jobs]))
            )
        }
        outside_transaction(db)
        linked = [c for c in customers.values() if c.xero_contact_id]
        unlinked = [c for c in customers.values() if not c.xero_contact_id]
        outcomes = contacts.update_contacts(
            api, linked, batch_key("contact-update", jobs), rename=rename
        )
        outcomes.update(contacts.ensure_contacts(api, unlinked, batch_key("contacts", jobs)))
        contacts.note_changes(db, list(customers.values()), outcomes, self.clock())
        results: Results = {}
        for job in jobs:
            outcome = outcomes.get(job.object_id)
            results[job.id] = outcome.error if outcome is not None else None
        return results

    def _notes(self, db: Session, api: XeroPort, jobs: list[SyncJob]) -> Results:
        customers = {
            c.id: c
            for c in db.scalars(
                select(Customer).where(Customer.id.in_([j.object_id for j in jobs]))
            )
        }
        outside_transaction(db)

        def add_note(job: SyncJob) -> None:
            customer = customers.get(job.object_id)
            if customer is not None and customer.xero_contact_id:
                contacts.add_history_note(
                    api, customer.xero_contact_id, job.payload, key=job.idempotency_key
                )

        return one_call_each(jobs, add_note)

    # -- outcomes ----------------------------------------------------------------------

    def _block(self, db: Session, error: RateLimited) -> None:
        from xero.api import ratelimit
        from xero.api.tokens import active_connection

        connection = active_connection(db)
        if connection is not None:
            now = self.clock()
            ratelimit.block(
                db, connection.tenant_id, now + timedelta(seconds=error.retry_after), now
            )

    def backoff(self, attempts: int) -> timedelta:
        """Spread retries so workers do not stampede Xero (``billing.jobs.backoff``)."""
        return queue.backoff(
            attempts, base=self.config.backoff_base, cap=self.config.backoff_cap, rng=self.rng
        )

    def outcome(self, job: SyncJob, answer: Answer, now: datetime) -> queue.Outcome:
        """What a job's answer means. Handlers say themselves when a job must wait (a
        ``queue.WaitFor``); the Xero adapter's errors are read here."""
        if answer is None:
            return queue.Done()
        if isinstance(answer, queue.WaitFor):
            return answer
        message = str(answer)
        if isinstance(answer, RateLimited):
            # Not the job's fault: does not count as an attempt.
            when = now + timedelta(seconds=answer.retry_after)
            return queue.RetryAt(when, message, counted=False)
        if isinstance(answer, NotConnected | AuthLost):
            return queue.WaitFor(message, now + self.config.disconnected_wait)
        if isinstance(answer, Retryable):
            attempts = job.attempts + 1
            last = attempts >= self.config.max_attempts
            when = now if last else now + self.backoff(attempts)
            return queue.RetryAt(when, message, outcome_unknown=answer.outcome_unknown)
        # Validation errors and the like: the same data would fail again.
        return queue.Failed(message)

    def _record(self, db: Session, job: SyncJob, answer: Answer) -> None:
        now = self.clock()
        outcome = self.outcome(job, answer, now)
        job.locked_until = None
        if isinstance(outcome, queue.Done):
            job.status = JobStatus.DONE
            job.last_error = ""
            job.outcome_unknown = False
            db.add(SyncAttempt(job=job, outcome="ok", at=now))
            return
        if isinstance(outcome, queue.RetryAt) and not outcome.counted:
            job.status = JobStatus.PENDING
            job.next_attempt_at = outcome.when
            label, message = "rate_limited", outcome.reason
        elif isinstance(outcome, queue.WaitFor):
            job.status = JobStatus.PENDING
            job.next_attempt_at = outcome.until or now + self.config.dependency_wait
            label, message = "waiting", outcome.what
        elif isinstance(outcome, queue.RetryAt):
            job.attempts += 1
            job.outcome_unknown = job.outcome_unknown or outcome.outcome_unknown
            if job.attempts >= self.config.max_attempts:
                job.status = JobStatus.NEEDS_ATTENTION
            else:
                job.status = JobStatus.PENDING
                job.next_attempt_at = outcome.when
            label, message = "retry", outcome.reason
        else:
            job.attempts += 1
            job.status = JobStatus.NEEDS_ATTENTION
            label, message = "failed", outcome.reason
        job.last_error = message
        db.add(SyncAttempt(job=job, outcome=label, message=message, at=now))
        log.info("xero job %s (%s %s): %s", job.id, job.kind, job.object_id, message)
