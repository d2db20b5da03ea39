"""The background worker, where billing and xero are put together: one loop handles stored
webhook events (billing.inbox: Stripe's by billing.cards.stripe_events, Xero's by
xero.sync.inbound.events), carries out sync jobs (xero.sync.worker), a chunk of the ledger
check under way (xero.admin.ledger_check) and of the billing run under way or due
(billing.recurring.runner), and polls Xero for changes on schedule.
``flask xero worker``, the demo's worker thread and the benchmarks run this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from billing import inbox
from billing.inbox import InboundEvent
from billing.jobs import PENDING, RUNNING
from billing.recurring.runner import BillingRunner
from xero.admin.ledger_check import LedgerCheckRunner
from xero.integration import XeroIntegration
from xero.models import SyncJob
from xero.sync import retention
from xero.sync.inbound import events, poller
from xero.sync.worker import drain

log = logging.getLogger(__name__)

DEFAULT_PULL_EVERY = timedelta(minutes=5)
SWEEP_EVERY = timedelta(hours=1)


#: How long the oldest waiting event or job waits before a round takes it, and with it
#: everything else waiting: a burst that lands within this is one batch (one read of its
#: invoices from Xero, one write of its card payments), whatever the machine's speed.
DEFAULT_LINGER = timedelta(seconds=1)
#: A burst is over once nothing new has arrived for this long: its round begins then rather
#: than a whole linger after its first event (but never sooner than a linger after the last
#: round began, so rounds, and calls to Xero, stay at least a linger apart).
DEFAULT_QUIET = timedelta(seconds=0.25)


class JobRunner:
    """Rounds of the portal's background work, paced by what waits rather than by timing.

    A round begins when the oldest waiting webhook event or sync job has waited ``linger``,
    or sooner once nothing new has arrived for ``quiet`` (a burst is over), but never less
    than ``linger`` after the last round began (or when the poll is due), and then takes
    everything that is due: all of it, up to each
    queue's batch size, however recently it arrived. Whatever arrives during a round waits
    for the next one, which begins ``linger`` after the first of those arrived, or at once
    when the round took longer than that. So rounds begin at least ``linger`` apart: a slow
    round makes the next one larger, never more numerous, and the number of batches (of
    calls to Xero) does not depend on how fast events arrive or rounds run."""

    def __init__(
        self,
        service: XeroIntegration,
        handlers: inbox.Handlers,
        *,
        pull: Callable[[], int] | None = None,
        pull_every: timedelta = DEFAULT_PULL_EVERY,
        keep_done_jobs: timedelta | None = None,
        linger: timedelta = DEFAULT_LINGER,
        quiet: timedelta = DEFAULT_QUIET,
        billing: BillingRunner | None = None,
    ):
        self.service = service
        #: Who handles each provider's stored webhook events: the app's (``job_runner``).
        self.handlers = handlers
        self.worker = service.worker()
        #: The ledger check runs a chunk a round, after the sync jobs (``xero.admin.ledger_check``).
        self.ledger_check = LedgerCheckRunner(
            service.session_factory, service.ledger_check_api, clock=service.clock
        )
        #: The billing run: a chunk of customers a round, after the ledger check.
        self.billing = billing
        self.pull = pull
        self.pull_every = pull_every
        self.linger = linger
        self.quiet = quiet
        self._round_began: datetime | None = None
        self._next_pull: datetime | None = None
        #: How long done sync jobs stay in the log (None: for ever); swept once an hour.
        self.keep_done_jobs = keep_done_jobs
        self._next_sweep: datetime | None = None

    def run_once(self) -> int:
        """One round of each kind of work; returns how much was handled (0: idle)."""
        self._round_began = self.service.clock()
        handled = inbox.process_due(
            self.service.session_factory,
            self.handlers,
            now=self.service.clock,
            limit=inbox.ROUND_LIMIT,
        )
        handled += self.worker.run_once()
        handled += self.ledger_check.run_once()
        if self.billing is not None:
            handled += self.billing.run_once()
        now = self.service.clock()
        if self.pull is not None and (self._next_pull is None or now >= self._next_pull):
            self._next_pull = now + self.pull_every
            handled += self.pull()
        # Not counted as work handled: deleting old rows is no reason for another round.
        self.sweep_if_due(now)
        return handled

    def sweep_if_due(self, now: datetime) -> int:
        """Once an hour, delete done sync jobs older than ``keep_done_jobs``."""
        if self.keep_done_jobs is None or (self._next_sweep is not None and now < self._next_sweep):
            return 0
        self._next_sweep = now + SWEEP_EVERY
        return retention.prune_done_jobs(
            self.service.session_factory, now=now, keep=self.keep_done_jobs
        )

    def next_round_at(self) -> datetime | None:
        """When the next round should begin (None: nothing waits): ``linger`` after the
        oldest pending event or job became due, or ``quiet`` after the newest of those due by
        then, whichever is sooner, but not before ``linger`` after the last round began;
        at once for one whose claim expired (its worker died), and when the poll falls due."""
        now = self.service.clock()
        with self.service.session_factory() as db:
            waiting = [
                db.execute(
                    select(
                        func.min(model.next_attempt_at),
                        # Due, or due within a linger (arriving): later ones (a retry's
                        # backoff, an echo held) are not part of this burst.
                        func.max(model.next_attempt_at).filter(
                            model.next_attempt_at <= now + self.linger
                        ),
                    ).where(model.status == PENDING)
                ).one()
                for model in (InboundEvent, SyncJob)
            ]
            expired = [
                db.scalar(select(func.min(model.locked_until)).where(model.status == RUNNING))
                for model in (InboundEvent, SyncJob)
            ]
        times = []
        for oldest, newest in waiting:
            if oldest is None:
                continue
            at = oldest + self.linger
            if newest is not None:
                at = min(at, newest + self.quiet)
            if self._round_began is not None:
                at = max(at, self._round_began + self.linger)
            times.append(at)
        times += [m for m in expired if m is not None]
        ledger_check = self.ledger_check.due_at()
        if ledger_check is not None:
            times.append(ledger_check)
        billing = self.billing.due_at() if self.billing is not None else None
        if billing is not None:
            times.append(billing)
        if self.pull is not None:
            times.append(self._next_pull or now)
        return min(times, default=None)

    def drain(self, max_rounds: int = 10_000) -> int:
        return drain(self.run_once, max_rounds)

    def run_forever(
        self,
        interval: float,
        sleep: Callable[[float], object] = time.sleep,
        *,
        stop: Callable[[], bool] = lambda: False,
        after_pass: Callable[[int], object] | None = None,
    ) -> None:
        """The worker process: a round whenever one is due (``next_round_at``); between
        them it sleeps until then, ``interval`` at most (events may arrive meanwhile). A
        round that handled nothing, or failed (logged; the loop goes on), is followed by
        ``interval`` of sleep. ``after_pass`` hears how much each pass handled (0: none
        was due, or an idle round); ``stop`` ends the loop (benchmarks, tests)."""
        while not stop():
            handled = 0
            wait = interval
            try:
                at = self.next_round_at()
                now = self.service.clock()
                if at is not None and at <= now:
                    handled = self.run_once()
                elif at is not None:
                    wait = min(interval, (at - now).total_seconds())
            except Exception:  # noqa: BLE001 - a worker must survive to try again
                log.exception("worker round failed")
            if after_pass is not None:
                after_pass(handled)
            if not handled:
                sleep(wait)


def job_runner(app: Flask) -> JobRunner:
    """The app's runner: its Xero service, the app's inbox handlers with Xero's webhook
    events handled by re-reading their invoice, and the poller. (Stripe's handler is
    registered with the app, ``portal.stripe_setup``.)"""
    service = app.extensions["xero"]
    handlers = app.extensions["inbox_handlers"]
    events.register(handlers, service)  # stored Xero webhook events re-read their invoice
    billing = BillingRunner(
        service.session_factory,
        prefix=app.config["INVOICE_PREFIX"],
        billing_day=app.config["BILLING_DAY"],
        hour=app.config["BILLING_HOUR"] if app.config["BILLING_AUTOMATIC"] else None,
        clock=service.clock,
    )
    return JobRunner(
        service,
        handlers,
        pull=poller.puller(service),
        keep_done_jobs=timedelta(days=app.config["SYNC_LOG_RETENTION_DAYS"]),
        billing=billing,
    )


def start_worker_thread(app: Flask) -> None:
    """The demo's worker, in the web process."""
    threading.Thread(target=_worker_loop, args=(app,), name="xero-worker", daemon=True).start()


def _worker_loop(app: Flask) -> None:
    job_runner(app).run_forever(app.config["XERO_WORKER_INTERVAL"])
