"""Xero's per-organisation limits, shared by every worker through one database row.

60 calls a minute and 5,000 a day per organisation. A worker asks before each call; when
the budget is spent it is told how long to wait and reschedules its jobs instead of
sleeping. A 429 from Xero blocks the organisation for its Retry-After.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xero.models import RateLimitWindow

PER_MINUTE = 60
PER_DAY = 5000
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def _window(db: Session, tenant_id: str, now: datetime) -> RateLimitWindow:
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
                db.add(
                    RateLimitWindow(tenant_id=tenant_id, minute_started_at=now, day_started_at=now)
                )
        except IntegrityError:
            pass  # another worker created it first
        window = db.scalar(stmt)
    assert window is not None
    return window


def take_call(
    db: Session,
    tenant_id: str,
    now: datetime,
    per_minute: int = PER_MINUTE,
    per_day: int = PER_DAY,
) -> float:
    """Count one call. Returns 0 when it may go now, else the seconds to wait (not counted)."""
    window = _window(db, tenant_id, now)
    if window.blocked_until is not None and window.blocked_until > now:
        return (window.blocked_until - now).total_seconds()
    if now - window.minute_started_at >= MINUTE:
        window.minute_started_at, window.minute_calls = now, 0
    if now - window.day_started_at >= DAY:
        window.day_started_at, window.day_calls = now, 0
    if window.minute_calls >= per_minute:
        return (window.minute_started_at + MINUTE - now).total_seconds()
    if window.day_calls >= per_day:
        return (window.day_started_at + DAY - now).total_seconds()
    window.minute_calls += 1
    window.day_calls += 1
    db.flush()
    return 0.0


def block(db: Session, tenant_id: str, until: datetime, now: datetime) -> None:
    window = _window(db, tenant_id, now)
    if window.blocked_until is None or window.blocked_until < until:
        window.blocked_until = until
    db.flush()
