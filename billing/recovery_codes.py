"""One-time recovery codes for a second factor: the way in when the phone is lost.

Only SHA-256 digests are stored. A code carries 50 random bits (10 base32 characters), so
a fast hash is enough: nobody can search that space from a stolen digest, and sign-in
throttling limits guesses online. Each code works once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base, UTCDateTime, utcnow

COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_digest", "user_id", "digest", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def _digest(code: str) -> str:
    normal = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normal.encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def replace_codes(db: Session, user_id: int) -> list[str]:
    """New codes for ``user_id`` (the old ones stop working); returned once, never stored."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(COUNT)]
    db.add_all(RecoveryCode(user_id=user_id, digest=_digest(code)) for code in codes)
    db.flush()
    return codes


def use_code(db: Session, user_id: int, code: str, now: datetime | None = None) -> bool:
    """Spend one code: True once per code, by a conditional UPDATE that only one request
    can win."""
    spent = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.digest == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    db.flush()
    return bool(spent.rowcount == 1)  # type: ignore[attr-defined]


def remaining(db: Session, user_id: int) -> int:
    return (
        db.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def drop_codes(db: Session, user_id: int) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.flush()
