"""What admins and members do to logins: passwords, roles, access. Each change that should
lock out a captured cookie ends the login's sessions (operations flush, never commit)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from billing.errors import BillingError
from billing.users import User


def end_sessions(db: Session, user: User) -> None:
    """End every session of ``user``: one UPDATE, so concurrent bumps never lose one."""
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    db.refresh(user, ["session_version"])


def claim_sessions_version(db: Session, user: User, version: int) -> bool:
    """Use up ``version`` of the login's sessions (a one-time link carries it): True for the
    one request whose conditional UPDATE finds it still current, False for any other."""
    claimed = db.execute(
        update(User)
        .where(User.id == user.id, User.session_version == version)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.refresh(user, ["session_version"])
    return True


def change_password(db: Session, user: User, new_password: str) -> None:
    """Set a new password (BillingError if too short) and end the login's sessions."""
    user.set_password(new_password)
    end_sessions(db, user)


def set_active(db: Session, user: User, active: bool, *, by: User) -> None:
    if user.id == by.id and not active:
        raise BillingError("You cannot deactivate your own login.")
    if user.active == active:
        return  # asked for the state it has: nothing to do, not an error
    user.active = active
    end_sessions(db, user)
