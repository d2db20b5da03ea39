"""The background worker, where billing and xero are put together: one loop handles stored
webhook events (billing.inbox: Stripe's by billing.cards.stripe_events, Xero's by
xero.sync.inbound.events), carries out sync jobs (xero.sync.worker), a chunk of the ledger
check under way (xero.admin.ledger_check), and polls Xero for changes on schedule.
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
from billing.db import utcnow
from billing.inbox import EventStatus, InboundEvent
from xero.admin.ledger_check import LedgerCheckRunner
from xero.integration import XeroIntegration
from xero.sync import retention
from xero.sync.inbound import events, poller
from xero.sync.worker import drain

log = logging.getLogger(__name__)

DEFAULT_PULL_EVERY = timedelta(minutes=5)
SWEEP_EVERY = timedelta(hours=1)


class JobRunner:
    def __init__(
        self,
        service: XeroIntegration,
        handlers: inbox.Handlers,
        *,
        pull: Callable[[], int] | None = None,
        pull_every: timedelta = DEFAULT_PULL_EVERY,
        keep_done_jobs: timedelta | None = None,
    ):
        self.service = service
        #: Who handles each provider's stored webhook events: the app's (``job_runner``).
        self.handlers = handlers
        self.worker = service.worker()
        #: The ledger check runs a chunk a round, after the sync jobs (``xero.admin.ledger_check``).
        self.ledger_check = LedgerCheckRunner(
            service.session_factory, service.ledger_check_api, clock=service.clock
        )
        self.pull = pull
        self.pull_every = pull_every
        self._next_pull: datetime | None = None
        #: How long done sync jobs stay in the log (None: for ever); swept once an hour.
        self.keep_done_jobs = keep_done_jobs
        self._next_sweep: datetime | None = None

    def run_once(self) -> int:
        """One round of each kind of work; returns how much was handled (0: idle)."""
        handled = inbox.process_due(
            self.service.session_factory, self.handlers, now=self.service.clock
        )
        handled += self.worker.run_once()
        handled += self.ledger_check.run_once()
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

    def gather(
        self,
        quiet: float = 0.2,
        longest: float = 1.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """After an idle spell, before the next round: while webhooks are still arriving,
        wait until none came for ``quiet`` seconds (the oldest waiting at most ``longest``).
        A burst of payments (a reminder run, month end) then becomes one batch: one read of
        its invoices from Xero and one write of its card payments, instead of one of each
        per round that caught part of it. Real time: that is what the events are stamped in.
        """
        while True:
            with self.service.session_factory() as db:
                oldest, newest = db.execute(
                    select(
                        func.min(InboundEvent.received_at), func.max(InboundEvent.received_at)
                    ).where(InboundEvent.status == EventStatus.PENDING, InboundEvent.attempts == 0)
                ).one()
            if oldest is None:
                return
            now = utcnow()
            wait = min(
                quiet - (now - newest).total_seconds(), longest - (now - oldest).total_seconds()
            )
            if wait <= 0:
                return
            sleep(wait)

    def drain(self, max_rounds: int = 10_000) -> int:
        return drain(self.run_once, max_rounds)

    def run_forever(self, interval: float, sleep: Callable[[float], object] = time.sleep) -> None:
        """The worker process: rounds back to back while there is work; when idle, wait
        ``interval`` and let a burst of webhooks land (``gather``) before the next round.
        A round that fails is logged and the loop goes on."""
        while True:
            try:
                if self.run_once():
                    continue
            except Exception:  # noqa: BLE001 - a worker must survive to try again
                log.exception("worker round failed")
            sleep(interval)
            self.gather(sleep=sleep)


def job_runner(app: Flask) -> JobRunner:
    """The app's runner: its Xero service, the app's inbox handlers with Xero's webhook
    events handled by re-reading their invoice, and the poller. (Stripe's handler is
    registered with the app, ``portal.stripe_setup``.)"""
    service = app.extensions["xero"]
    handlers = app.extensions["inbox_handlers"]
    events.register(handlers, service)  # stored Xero webhook events re-read their invoice
    return JobRunner(
        service,
        handlers,
        pull=poller.puller(service),
        keep_done_jobs=timedelta(days=app.config["SYNC_LOG_RETENTION_DAYS"]),
    )


def start_worker_thread(app: Flask) -> None:
    """The demo's worker, in the web process."""
    threading.Thread(target=_worker_loop, args=(app,), name="xero-worker", daemon=True).start()


def _worker_loop(app: Flask) -> None:
    job_runner(app).run_forever(app.config["XERO_WORKER_INTERVAL"])
