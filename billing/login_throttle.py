"""Failed sign-ins, counted in the database so every worker process sees the same count.

Two budgets, kept apart: an account may see ``MAX_ACCOUNT_FAILURES`` wrong passwords a
``WINDOW``; a client address ``MAX_ADDRESS_FAILURES``. A throttled address still gets its
password checked for an account with no recent failures, so nobody can lock members out
of their accounts by guessing from one address (and a spray from that address costs each
account at most one guess).

``check`` takes locks so that counting, checking the password and recording the failure
happen one request at a time per account and per address: on PostgreSQL transaction-level
advisory locks; on SQLite the database's single write lock, which the portal's engine takes
at BEGIN (BEGIN IMMEDIATE, see portal.db). Both are held until the request commits, after
the failure is recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base, UTCDateTime, utcnow

MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=1)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    #: The client's IP address as the portal sees it (behind a proxy: the proxied one).
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: "account" or "address" when refused.
    reason: str = ""
    #: Whole seconds until the oldest counted failure leaves the window.
    wait_seconds: int = 0

    @property
    def message(self) -> str:
        wait = f"Try again in {self.wait_seconds} second{'s' if self.wait_seconds != 1 else ''}."
        if self.reason == "account":
            return f"Too many failed sign-ins for this account. {wait}"
        return f"Too many failed sign-ins from your network. {wait}"


def _lock(db: Session, key: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def check(db: Session, email: str, address: str, now: datetime | None = None) -> Verdict:
    """May this password be checked now? Call before checking it; record_failure after."""
    now = now or utcnow()
    # Account first, then address, always in that order: two requests cannot deadlock.
    _lock(db, f"login-account:{email}")
    _lock(db, f"login-address:{address}")
    # Old rows are worthless; trimming here keeps the table small without a cron job.
    # SKIP LOCKED (PostgreSQL): rows another sign-in is trimming are left to it, so no
    # request waits on, or deadlocks with, one for another account.
    old = (
        select(LoginFailure.id)
        .where(LoginFailure.at < now - 10 * WINDOW)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    db.execute(delete(LoginFailure).where(LoginFailure.id.in_(old.scalar_subquery())))
    since = now - WINDOW
    recent = LoginFailure.at > since
    by_account = db.execute(
        select(func.count(), func.min(LoginFailure.at)).where(recent, LoginFailure.email == email)
    ).one()
    if by_account[0] >= MAX_ACCOUNT_FAILURES:
        return Verdict(False, "account", _wait(by_account[1], now))
    if by_account[0] == 0:
        return Verdict(True)
    by_address = db.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            recent, LoginFailure.address == address
        )
    ).one()
    if by_address[0] >= MAX_ADDRESS_FAILURES:
        return Verdict(False, "address", _wait(by_address[1], now))
    return Verdict(True)


def _wait(oldest: datetime, now: datetime) -> int:
    if oldest.tzinfo is None:  # SQLite gives naive UTC back through some paths
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(1, math.ceil((oldest + WINDOW - now).total_seconds()))


def record_failure(db: Session, email: str, address: str, now: datetime | None = None) -> None:
    db.add(LoginFailure(email=email, address=address, at=now or utcnow()))
    db.flush()


def clear_failures(db: Session, email: str) -> None:
    db.execute(delete(LoginFailure).where(LoginFailure.email == email))
    db.flush()
