"""The job queue shared by the portal's background work: the outbox (writes to Xero,
``xero.sync.worker``), the inbox (webhook events, ``billing.inbox``) and the batching of Xero
events (``xero.sync.inbound.events``).

A queue is a table whose rows have a ``status``, ``attempts``, ``next_attempt_at`` and
``locked_until``. A worker claims due rows with SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL, so any number of workers share a queue without taking the same row twice;
SQLite runs one worker (its BEGIN IMMEDIATE serialises claims anyway). A claim is a lease
that expires: a row held by a worker that died is taken up again once it passes.

What became of a job is said by a handler with an explicit outcome, not by which exception
it raised: done, retry at a time, wait for something (not the job's fault, no attempt
counted), or failed for a reason (the same data would fail again: someone must look).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

#: The two statuses every queue's rows share: waiting to be claimed, and claimed (leased).
PENDING = "pending"
RUNNING = "running"


@dataclass(frozen=True)
class Done:
    """The job did what it was for."""


@dataclass(frozen=True)
class RetryAt:
    """Try again at ``when``. ``counted``: the attempt counts towards giving up (a time-out
    does; a rate limit, which is not the job's fault, does not). ``outcome_unknown``: the
    attempt may have taken effect (no answer came back), so look before doing it again."""

    when: datetime
    reason: str
    counted: bool = True
    outcome_unknown: bool = False


@dataclass(frozen=True)
class WaitFor:
    """The job depends on something not there yet (another object reaching Xero, a
    connection): it waits, no attempt counted, and nothing is reported as failing.
    ``until`` None: the runner's usual wait."""

    what: str
    until: datetime | None = None


@dataclass(frozen=True)
class Failed:
    """Retrying cannot help (refused data, too many attempts): someone must decide."""

    reason: str


Outcome = Done | RetryAt | WaitFor | Failed


def backoff(
    attempts: int, *, base: float, cap: float, rng: random.Random | random.SystemRandom
) -> timedelta:
    """Exponential backoff with jitter, so that workers do not retry in step: after the
    n-th failed attempt, a wait drawn between half and all of ``base * 2**(n-1)`` seconds,
    capped at ``cap``."""
    ceiling = min(cap, base * 2 ** (attempts - 1))
    return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))


def lease_expired(model: Any, now: datetime) -> ColumnElement[bool]:
    """Claimed, but by a worker whose lease has run out (it died, or hangs)."""
    return and_(model.status == RUNNING, model.locked_until < now)


def due(model: Any, now: datetime) -> ColumnElement[bool]:
    """Rows a worker may claim now: pending and due, or left behind by an expired lease."""
    return or_(
        and_(model.status == PENDING, model.next_attempt_at <= now), lease_expired(model, now)
    )


def lock(db: Session, query: Select[Any]) -> list[Any]:
    """The rows ``query`` selects, locked for this transaction; rows another worker holds
    locked are skipped rather than waited for (PostgreSQL; SQLite has one writer)."""
    return list(db.scalars(query.with_for_update(skip_locked=True)))


def take(rows: list[Any], now: datetime, lease: timedelta) -> None:
    """Claim ``rows`` (locked by ``lock``) for ``lease``: no other worker takes them until
    it runs out. The claim holds once the transaction commits."""
    for row in rows:
        row.status = RUNNING
        row.locked_until = now + lease
