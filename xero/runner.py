"""Everything the background worker does, in one loop: handle stored webhook events
(billing.inbox), carry out sync jobs (xero.worker), and poll Xero for changes on schedule.
``flask xero worker`` and the demo's worker thread run this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from billing import inbox
from xero import pull
from xero.service import XeroService

DEFAULT_PULL_EVERY = timedelta(minutes=5)


class JobRunner:
    def __init__(
        self,
        service: XeroService,
        *,
        pull: Callable[[], int] | None = None,
        pull_every: timedelta = DEFAULT_PULL_EVERY,
    ):
        self.service = service
        self.worker = service.worker()
        self.pull = pull
        self.pull_every = pull_every
        self._next_pull: datetime | None = None

    def run_once(self) -> int:
        """One round of each kind of work; returns how much was handled (0: idle)."""
        # Xero's events first, all together: their invoices are re-read 50 per call.
        handled = pull.handle_events(self.service)
        handled += inbox.process_due(self.service.session_factory, now=self.service.clock)
        handled += self.worker.run_once()
        now = self.service.clock()
        if self.pull is not None and (self._next_pull is None or now >= self._next_pull):
            self._next_pull = now + self.pull_every
            handled += self.pull()
        return handled

    def drain(self, max_rounds: int = 10_000) -> int:
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            if not handled:
                break
            total += handled
        return total
