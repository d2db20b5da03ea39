"""The worker process's loop: rounds paced by what waits (the runner's linger), each taking
everything waiting; failures survived. Time is the env's clock, moved by a fake sleep."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from billing import inbox
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice
from billing.recurring.model import BillingRun, Membership
from billing.recurring.periods import Cycle, period_containing
from billing.recurring.runner import BillingRunner
from billing.services import Service
from portal.worker import DEFAULT_LINGER, DEFAULT_QUIET, JobRunner
from xero.models import JobKind, JobStatus, SyncJob

LINGER_S = DEFAULT_LINGER.total_seconds()


def _invoice_jobs_due_at(env, moments) -> None:
    """Put the waiting invoice jobs' arrival at ``moments`` (rows get real-time defaults)."""
    with env.Session() as db, db.begin():
        jobs = db.scalars(
            select(SyncJob).where(SyncJob.kind == JobKind.INVOICE).order_by(SyncJob.id)
        ).all()
        assert len(jobs) == len(moments)
        for job, moment in zip(jobs, moments, strict=True):
            job.next_attempt_at = moment


def test_run_forever_waits_for_the_linger_then_works_until_idle(env, monkeypatch):
    env.issue(env.add_customer(name="Acme"))
    runner = JobRunner(env.service, env.handlers)
    rounds = []
    real = runner.run_once

    def counted():
        rounds.append(env.clock())
        if len(rounds) == 1:
            raise RuntimeError("a round that fails is logged, not fatal")
        return real()

    monkeypatch.setattr(runner, "run_once", counted)
    sleeps: list[float] = []

    def sleep(seconds):
        sleeps.append(seconds)
        env.advance(seconds)

    runner.run_forever(interval=7, sleep=sleep, stop=lambda: len(sleeps) >= 4)

    assert 0 < sleeps[0] <= LINGER_S  # the job waits for the linger, not the interval
    assert sleeps[1] == 7  # after the failed round
    # The invoice's follow-up (its online link), queued by the round, waits until a linger
    # after that round began: rounds stay a linger apart.
    assert 0 < sleeps[2] <= LINGER_S
    assert sleeps[3] == 7  # idle: nothing waits any more
    assert len(env.xero_invoices()) == 1
    assert len(rounds) >= 2  # the failed round, the work (and its online-link follow-up)


def test_a_round_takes_everything_waiting_however_recent(env):
    customer = env.add_customer(name="Acme")
    env.issue(customer)
    env.issue(customer)
    env.issue(customer)
    t0 = env.clock()
    # The first job arrived at t0, the others 0.5 s and 0.9 s later.
    _invoice_jobs_due_at(env, [t0, t0 + timedelta(seconds=0.5), t0 + timedelta(seconds=0.9)])
    runner = JobRunner(env.service, env.handlers)

    assert runner.next_round_at() == t0 + DEFAULT_LINGER
    env.advance(LINGER_S)
    before = env.service.counter.by_method.get("update_or_create_invoices", 0)
    assert runner.run_once() >= 3

    assert env.service.counter.by_method["update_or_create_invoices"] - before == 1
    assert len(env.xero_invoices()) == 3
    assert {j.status for j in env.jobs() if j.kind == JobKind.INVOICE} == {JobStatus.DONE}


def test_after_a_slow_round_the_next_takes_all_that_arrived_during_it_at_once(env):
    customer = env.add_customer(name="Acme")
    for _ in range(3):
        env.issue(customer)
    t0 = env.clock()
    # Arrived while a round ran for 3.5 s: the next is due 1 s after the first of them.
    arrivals = [t0 + timedelta(seconds=s) for s in (0.5, 1.5, 2.5)]
    _invoice_jobs_due_at(env, arrivals)
    env.advance(3.5)
    runner = JobRunner(env.service, env.handlers)

    assert runner.next_round_at() == arrivals[0] + DEFAULT_LINGER <= env.clock()
    before = env.service.counter.by_method.get("update_or_create_invoices", 0)
    runner.run_once()

    # One batch for the three, not one round for each arrival.
    assert env.service.counter.by_method["update_or_create_invoices"] - before == 1
    assert len(env.xero_invoices()) == 3


def _trickle(env, round_s: float) -> tuple[list, list[int]]:
    """Events arriving every 0.1 s for 6 s while the runner's rounds each take ``round_s``:
    when each round began, and how many events each took."""
    batches: list[int] = []
    taken: list[int] = []
    env.handlers.register("test", lambda db, event: taken.append(event.id))
    start = env.clock()
    arrivals = [start + timedelta(seconds=0.1 * k) for k in range(60)]
    stored = 0

    def land() -> None:
        nonlocal stored
        with env.Session() as db, db.begin():
            while stored < len(arrivals) and arrivals[stored] <= env.clock():
                inbox.store_event(
                    db, "test", f"evt-{stored}", "test.event", "{}", not_before=arrivals[stored]
                )
                stored += 1

    runner = JobRunner(env.service, env.handlers)
    real = runner.run_once
    began: list = []

    def slow_round() -> int:
        began.append(env.clock())
        taken.clear()
        handled = real()
        batches.append(len(taken))
        env.advance(round_s)  # the round's own time: events keep landing meanwhile
        land()
        return handled

    runner.run_once = slow_round  # type: ignore[method-assign]

    def sleep(seconds: float) -> None:
        env.advance(seconds)
        land()

    land()
    runner.run_forever(
        interval=0.05, sleep=sleep, stop=lambda: sum(batches) == len(arrivals) == stored
    )
    with env.Session() as db:
        assert set(db.scalars(select(InboundEvent.status))) == {"done"}
    return began, batches


@pytest.mark.parametrize("round_s", [0.4, 1.7])
def test_rounds_begin_a_linger_apart_however_events_trickle_in(env, round_s):
    """Every event is handled; rounds begin at least a linger apart, so there are at most
    6 s / linger of them (+1 for the last arrivals); slower rounds make fewer, larger ones."""
    began, batches = _trickle(env, round_s)

    assert sum(batches) == 60
    gaps = [(b - a).total_seconds() for a, b in zip(began, began[1:], strict=False)]
    assert min(gaps) >= LINGER_S - 1e-6
    assert len(began) <= 6 / max(LINGER_S, round_s) + 2
    if round_s > LINGER_S:
        assert len(began) < 6 / LINGER_S and max(batches) > 10


def test_a_burst_is_taken_once_it_is_over_but_rounds_stay_a_linger_apart(env):
    customer = env.add_customer(name="Acme")
    for _ in range(3):
        env.issue(customer)
    t0 = env.clock()
    # A burst: three jobs 0.1 s apart. It is over (quiet) 0.25 s after the last.
    arrivals = [t0 + timedelta(seconds=s) for s in (0.0, 0.1, 0.2)]
    _invoice_jobs_due_at(env, arrivals)
    runner = JobRunner(env.service, env.handlers)

    assert runner.next_round_at() == arrivals[-1] + DEFAULT_QUIET < t0 + DEFAULT_LINGER
    env.advance((arrivals[-1] + DEFAULT_QUIET - t0).total_seconds())
    began = env.clock()
    before = env.service.counter.by_method.get("update_or_create_invoices", 0)
    runner.run_once()
    assert env.service.counter.by_method["update_or_create_invoices"] - before == 1

    # The next burst lands just after that round: however quiet it is, its round begins a
    # linger after the last one began, not sooner.
    env.issue(customer)
    _invoice_jobs_due_at_latest(env, env.clock())
    at = runner.next_round_at()
    assert at is not None
    assert env.clock() + DEFAULT_QUIET < began + DEFAULT_LINGER <= at
    # (a few microseconds later at most: the round's own follow-up jobs wait a linger too)
    assert at - (began + DEFAULT_LINGER) < timedelta(milliseconds=50)


def _invoice_jobs_due_at_latest(env, moment) -> None:
    with env.Session() as db, db.begin():
        job = db.scalars(
            select(SyncJob)
            .where(SyncJob.kind == JobKind.INVOICE, SyncJob.status == JobStatus.PENDING)
            .order_by(SyncJob.id.desc())
        ).first()
        assert job is not None
        job.next_attempt_at = moment


def test_the_days_billing_run_is_a_round_of_the_worker_and_its_invoice_reaches_xero(env):
    customer_id = env.add_customer(name="Plan & Co")
    today = env.clock().date()
    with env.Session() as db, db.begin():
        db.get_one(Service, env.desk_id).cycle = Cycle.MONTHLY
        starts = period_containing(today, Cycle.MONTHLY).start
        db.add(Membership(customer_id=customer_id, service_id=env.desk_id, starts_on=starts))
    # Billing hour 0: the day's run is due whatever the time of the test.
    billing = BillingRunner(env.service.session_factory, prefix="DAY-", hour=0, clock=env.clock)
    runner = JobRunner(env.service, env.handlers, billing=billing)
    assert runner.next_round_at() <= env.clock()

    runner.drain()

    with env.Session() as db:
        [run] = db.scalars(select(BillingRun)).all()
        assert (run.scheduled_for, run.billing_date, run.invoices) == (today, today, 1)
        invoice = db.scalars(select(Invoice).where(Invoice.customer_id == customer_id)).one()
        assert invoice.number.startswith("DAY-") and invoice.issue_date == today
    [pushed] = env.xero_invoices()
    assert pushed.invoice_number == invoice.number and pushed.status == "AUTHORISED"
    # The next is the following day's, not another today.
    assert billing.due_at() == datetime.combine(run.scheduled_for + timedelta(days=1), time(0), UTC)
