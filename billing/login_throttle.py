"""Failed sign-ins, counted in the database so every worker process sees the same count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base, UTCDateTime, utcnow

MAX_FAILURES = 5
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


def is_throttled(db: Session, email: str, address: str, now: datetime | None = None) -> bool:
    """True when the account or the address had MAX_FAILURES failures in the last WINDOW."""
    since = (now or utcnow()) - WINDOW
    recent = LoginFailure.at > since
    by_email = db.scalar(select(func.count()).where(recent, LoginFailure.email == email))
    by_address = db.scalar(select(func.count()).where(recent, LoginFailure.address == address))
    return (by_email or 0) >= MAX_FAILURES or (by_address or 0) >= MAX_FAILURES


def record_failure(db: Session, email: str, address: str) -> None:
    db.add(LoginFailure(email=email, address=address))
    # Old rows are worthless; trimming here keeps the table small without a cron job.
    db.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - 10 * WINDOW))
    db.flush()


def clear_failures(db: Session, email: str) -> None:
    db.execute(delete(LoginFailure).where(LoginFailure.email == email))
    db.flush()
