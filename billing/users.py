"""Logins: admins run the portal, members belong to one customer and see only its data."""

from __future__ import annotations

import contextlib
import enum
import functools
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from billing.db import Base, UTCDateTime, utcnow
from billing.errors import BillingError

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'member')", name="role_known"),
        # A member without a company would see nothing, an admin tied to one is a mistake.
        CheckConstraint(
            "(role = 'member' AND customer_id IS NOT NULL) OR "
            "(role = 'admin' AND customer_id IS NULL)",
            name="member_has_customer",
        ),
        # Sign-in finds the login by its e-mail whatever its case (find_by_email).
        Index("ix_users_email_lower", func.lower(text("email"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: Base32 TOTP secret, encrypted with the portal's encryption key; empty until enrolled.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: The last TOTP time step accepted: a code from that step or earlier is refused.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: Bumped to end every session of this login (sign-out, password or role change,
    #: deactivation); a session carries the version it was signed in with.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer = relationship("Customer", back_populates="members")

    # The four members flask-login expects, written here so billing needs no Flask import.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise BillingError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        try:
            _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
            self.password_hash = _hasher.hash(password)
        return True


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def create_user(
    db: Session, *, email: str, name: str, password: str, role: Role, customer_id: int | None = None
) -> User:
    email = normalise_email(email)
    if find_user_by_email(db, email) is not None:
        raise BillingError(f"A login for {email} already exists.")
    user = User(email=email, name=name.strip(), role=role, customer_id=customer_id)
    user.set_password(password)
    db.add(user)
    db.flush()
    return user


def verify_dummy_password() -> None:
    """Spend the same time as a real check, so unknown emails cannot be told apart by timing."""
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy_hash(), "not the password")


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: a hash costs every process (each gunicorn worker)
    # most of a second at start-up otherwise.
    return _hasher.hash("dummy password for timing")
