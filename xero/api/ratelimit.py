"""Xero's per-organisation limits, shared by every worker through the database.

60 calls in any rolling minute and 5,000 in any rolling day per organisation. A worker asks
before each call; when the budget is spent it is told how long to wait and reschedules its
jobs instead of sleeping. A 429 from Xero blocks the organisation for its Retry-After.
Asking takes a row lock on the organisation, so two workers never both take the last call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xero.models import RateLimitWindow, XeroCall

PER_MINUTE = 60
PER_DAY = 5000
#: Calls that carry no money (online invoice links, e-mails, contact history notes: one call
#: per object) stop at this share of the minute's budget (40 of Xero's 60), so the rest stays
#: free for money written to Xero and Xero's own payments read back: at month end hundreds of
#: follow-ups would otherwise hold a payment minutes behind them.
FOLLOW_UP_SHARE = 2 / 3


#: Calls a minute that background work (the worker, the poller, admin pages) never uses, so
#: a member who asks to pay via Xero before the invoice's online link was fetched gets it
#: at once (``xero.sync.online_links``), even while month end spends the rest of the minute.
#: Members may use the rest of the minute too; the reserve is what they always find.
MEMBER_RESERVE = 3


def follow_up_budget(per_minute: int) -> int:
    return int(per_minute * FOLLOW_UP_SHARE)


def member_reserve(per_minute: int) -> int:
    """The calls a minute kept for members: ``MEMBER_RESERVE``, or none for a budget too
    small to spare any (under 20 a minute)."""
    return min(MEMBER_RESERVE, per_minute // 20)


def background_budget(per_minute: int) -> int:
    """What background work may spend of the minute: all but the members' reserve."""
    return per_minute - member_reserve(per_minute)


#: The ledger check (reads only, ~400 calls at 20,000 invoices) stops at this share of the
#: minute's budget (50 of Xero's 60): it finishes in minutes, and money written to Xero
#: still finds room while it runs.
LEDGER_CHECK_SHARE = 5 / 6


def ledger_check_budget(per_minute: int) -> int:
    return int(per_minute * LEDGER_CHECK_SHARE)


MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def _window(db: Session, tenant_id: str) -> RateLimitWindow:
    stmt = (
        select(RateLimitWindow)
        .where(RateLimitWindow.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    window = db.scalar(stmt)
    if window is None:
        try:
            with db.begin_nested():
                db.add(RateLimitWindow(tenant_id=tenant_id))
        except IntegrityError:
            pass  # another worker created it first
        window = db.scalar(stmt)
    assert window is not None
    return window


def _wait_for(db: Session, tenant_id: str, now: datetime, span: timedelta, limit: int) -> float:
    """Seconds until fewer than ``limit`` calls fall in the ``span`` before now (0: now)."""
    if limit <= 0:
        return span.total_seconds()  # no budget at all (a paused organisation)
    recent = (
        select(XeroCall.at)
        .where(XeroCall.tenant_id == tenant_id, XeroCall.at > now - span)
        .order_by(XeroCall.at.desc())
    )
    count = db.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count < limit:
        return 0.0
    # The call that must age out first is the limit-th most recent one.
    oldest_that_counts = db.scalar(recent.offset(limit - 1).limit(1))
    if oldest_that_counts is None:  # pruned between the count and the look-up
        return 0.0
    return max((oldest_that_counts + span - now).total_seconds(), 0.001)


def take_call(
    db: Session,
    tenant_id: str,
    now: datetime,
    per_minute: int = PER_MINUTE,
    per_day: int = PER_DAY,
) -> float:
    """Count one call. Returns 0 when it may go now, else the seconds to wait (not counted)."""
    window = _window(db, tenant_id)
    if window.blocked_until is not None and window.blocked_until > now:
        return (window.blocked_until - now).total_seconds()
    wait = max(
        _wait_for(db, tenant_id, now, MINUTE, per_minute),
        _wait_for(db, tenant_id, now, DAY, per_day),
    )
    if wait:
        return wait
    db.add(XeroCall(tenant_id=tenant_id, at=now))
    db.execute(delete(XeroCall).where(XeroCall.tenant_id == tenant_id, XeroCall.at < now - DAY))
    db.flush()
    return 0.0


def block(db: Session, tenant_id: str, until: datetime, now: datetime) -> None:
    window = _window(db, tenant_id)
    if window.blocked_until is None or window.blocked_until < until:
        window.blocked_until = until
    db.flush()
