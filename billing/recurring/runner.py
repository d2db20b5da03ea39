"""The billing run in the background: queued from the billing-run page or the command line,
and by the worker every day at the billing hour for the periods whose billing date has come.

A run is carried out a chunk of customers at a time by whichever worker holds its lease;
each customer's invoices are committed with the run's progress (customers done, invoices
issued, the last customer done), so the page shows how far it is and a run stopped half-way
(a worker restarted, a crash) carries on from the next customer once its lease runs out.
Progress is written only while the worker still holds the lease (its token): a worker that
stalled past its lease, the run taken over meanwhile, writes nothing and stops. A customer
that cannot be billed, for whatever reason but the database being unwell, is recorded with
the reason and the run goes on.
One run is under way at a time (the unique ``active`` column), and what it bills is kept
under the unique key of membership and period (``billing.recurring.run``): a run resumed,
repeated, or shared by two workers charges nothing twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from billing.db import utcnow
from billing.errors import BillingError
from billing.recurring.model import BillingRun, BillingRunFailure, BillingRunStatus
from billing.recurring.run import bill_customer, check_billing_date, customers_due

log = logging.getLogger(__name__)

#: Customers a worker bills before it lets the rest of its round (webhooks, Xero) go on.
CHUNK = 50
#: How long a worker holds a run for a chunk; a worker that died lets go after this.
LEASE = timedelta(minutes=5)


class RunUnderWay(BillingError):
    """Another billing date's run is under way: one at a time."""


class NothingDue(BillingError):
    """No membership has a period to invoice by the billing date: no run is started."""


def active_run(db: Session) -> BillingRun | None:
    return db.scalar(select(BillingRun).where(BillingRun.active.is_(True)))


def recent_runs(db: Session, limit: int = 10) -> list[BillingRun]:
    return list(db.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit)))


def failures_of(db: Session, run: BillingRun) -> list[BillingRunFailure]:
    return list(
        db.scalars(
            select(BillingRunFailure)
            .where(BillingRunFailure.run_id == run.id)
            .order_by(BillingRunFailure.id)
        )
    )


def start_run(
    db: Session,
    billing_date: date,
    *,
    now: datetime,
    billing_day: int = 1,
    started_by_id: int | None = None,
    scheduled_for: date | None = None,
) -> BillingRun:
    """Queue a run for ``billing_date``, or give back the one under way for that date (two
    admins pressing at once get one run: the unique ``active`` column decides). Refused
    while another date's run is under way, when nothing is due, and for a date more than a
    period ahead. Flushes."""
    check_billing_date(billing_date, now.date(), billing_day)
    existing = active_run(db)
    if existing is not None:
        if existing.billing_date != billing_date:
            raise RunUnderWay(
                f"The billing run for {existing.billing_date:%d %b %Y} is under way: "
                "start another once it is over."
            )
        return existing
    due = customers_due(db, billing_date, billing_day=billing_day)
    if not due:
        raise NothingDue(f"Nothing is due by {billing_date:%d %b %Y}: no invoices to issue.")
    run = BillingRun(
        billing_date=billing_date,
        started_by_id=started_by_id,
        scheduled_for=scheduled_for,
        created_at=now,
        total=len(due),
        active=True,
    )
    try:
        with db.begin_nested():
            db.add(run)
    except IntegrityError:
        # Another admin, the command line or a worker queued one meanwhile.
        other = active_run(db)
        if other is None and scheduled_for is not None:
            other = db.scalar(select(BillingRun).where(BillingRun.scheduled_for == scheduled_for))
        if other is None:
            raise
        if other.active and other.billing_date != billing_date:
            raise RunUnderWay(
                f"The billing run for {other.billing_date:%d %b %Y} is under way: "
                "start another once it is over."
            ) from None
        return other
    return run


class BillingRunner:
    """Carries out the run under way a chunk per ``run_once``, and queues the day's run at
    ``hour`` (UTC; None: never, the command line's runner)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        prefix: str,
        billing_day: int = 1,
        hour: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
        chunk_size: int = CHUNK,
    ):
        self.session_factory = session_factory
        self.prefix = prefix
        self.billing_day = billing_day
        self.hour = hour
        self.clock = clock
        self.lease = lease
        self.chunk_size = chunk_size
        #: The last day whose scheduled run this process knows to be queued (or not needed).
        self._scheduled: date | None = None

    def due_at(self) -> datetime | None:
        """When there is work next: the run under way's next chunk (now, or when its lease
        ends), else the day's scheduled run (today's hour, or tomorrow's once done)."""
        with self.session_factory() as db:
            row = db.execute(
                select(BillingRun.locked_until).where(BillingRun.active.is_(True))
            ).first()
        now = self.clock()
        if row is not None:
            return row[0] or now
        if self.hour is None:
            return None
        at = datetime.combine(now.date(), time(self.hour), tzinfo=UTC)
        return at if self._scheduled != now.date() else at + timedelta(days=1)

    def run_once(self) -> int:
        """One chunk of the run under way (queuing the day's run when its hour has come);
        1 if customers were billed, 0 if there was nothing to do or another worker has it."""
        now = self.clock()
        with self.session_factory() as db:
            run_id = db.scalar(select(BillingRun.id).where(BillingRun.active.is_(True)))
            if run_id is None:
                run_id = self._queue_scheduled(db, now)
            if run_id is None:
                return 0
            token = self._claim(db, run_id, now)
            if token is None:
                return 0
            self._step(db, run_id, token)
            return 1

    def drain(self, max_rounds: int = 100_000) -> int:
        """Chunks until no run is under way or another worker holds it (tests, the CLI)."""
        done = 0
        for _ in range(max_rounds):
            if not self.run_once():
                break
            done += 1
        return done

    def _queue_scheduled(self, db: Session, now: datetime) -> int | None:
        today = now.date()
        if self.hour is None or self._scheduled == today or now.time() < time(self.hour):
            return None
        try:
            run = start_run(db, today, now=now, billing_day=self.billing_day, scheduled_for=today)
        except NothingDue:
            self._scheduled = today  # no period's billing date has come: no run to show
            return None
        except RunUnderWay:
            return None  # tried again once the other run is over
        db.commit()  # the run is queued whatever becomes of its first chunk
        self._scheduled = today
        log.info("billing run %s queued for %s (%s customers)", run.id, today, run.total)
        return run.id if run.active else None

    def _claim(self, db: Session, run_id: int, now: datetime) -> str | None:
        """Take the run's lease with one conditional UPDATE (of two workers, one wins);
        the lease's token, or None."""
        token = secrets.token_hex(16)
        claimed = db.execute(
            update(BillingRun)
            .where(
                BillingRun.id == run_id,
                BillingRun.active.is_(True),
                or_(BillingRun.locked_until.is_(None), BillingRun.locked_until <= now),
            )
            .values(
                locked_until=now + self.lease,
                lease_token=token,
                status=BillingRunStatus.RUNNING,
                started_at=func.coalesce(BillingRun.started_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return token if getattr(claimed, "rowcount", 0) else None

    def _holding(self, db: Session, run_id: int, token: str, **values: Any) -> bool:
        """Write ``values`` to the run if this worker still holds its lease; whether it did."""
        written = db.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id, BillingRun.lease_token == token)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(written, "rowcount", 0))

    def _step(self, db: Session, run_id: int, token: str) -> None:
        run = db.get_one(BillingRun, run_id, populate_existing=True)
        billing_date, cursor = run.billing_date, run.cursor
        chunk = customers_due(db, billing_date, billing_day=self.billing_day, after=cursor)
        chunk = chunk[: self.chunk_size]
        for customer_id in chunk:
            issued, failure = self._bill(db, customer_id, billing_date)
            if failure is not None:
                db.add(BillingRunFailure(run_id=run_id, customer_id=customer_id, reason=failure))
            kept = self._holding(
                db,
                run_id,
                token,
                done=BillingRun.done + 1,
                total=case(
                    (BillingRun.total <= BillingRun.done, BillingRun.done + 1),
                    else_=BillingRun.total,
                ),
                invoices=BillingRun.invoices + issued,
                failed=BillingRun.failed + int(failure is not None),
                cursor=customer_id,
                locked_until=self.clock() + self.lease,
            )
            if not kept:
                db.rollback()  # the run was taken over: this customer is the new holder's
                log.warning("billing run %s: lease lost at customer %s", run_id, customer_id)
                return
            db.commit()  # the runner's boundary: one customer's invoices with the progress
        ending: dict[str, Any] = {"locked_until": None, "lease_token": None}
        if len(chunk) < self.chunk_size:
            ending |= {"status": BillingRunStatus.DONE, "active": None, "finished_at": self.clock()}
        if self._holding(db, run_id, token, **ending) and "active" in ending:
            run = db.get_one(BillingRun, run_id, populate_existing=True)
            log.info(
                "billing run %s for %s: %s invoices, %s customers not billed",
                run_id,
                billing_date,
                run.invoices,
                run.failed,
            )
        db.commit()

    def _bill(self, db: Session, customer_id: int, billing_date: date) -> tuple[int, str | None]:
        """Bill one customer in a savepoint: (invoices issued, None) or (0, why not)."""
        try:
            with db.begin_nested():
                issued = bill_customer(
                    db, customer_id, billing_date, prefix=self.prefix, billing_day=self.billing_day
                )
        except OperationalError:
            raise  # the database is unwell (connection, lock timeout): retried after the lease
        except BillingError as error:
            return 0, str(error)
        except Exception as error:  # noqa: BLE001 - one customer must not stop everyone's run
            log.exception("billing run: customer %s could not be billed", customer_id)
            return 0, f"Unexpected error ({type(error).__name__}): {error}"[:2000]
        return len(issued), None
