"""Security events finance or an admin may need to trace: who, what, from where."""

from __future__ import annotations

from billing.users import User
from portal.clock import now
from portal.db import get_db
from portal.login_sessions import client_address
from xero.models import AuditEntry


def record(user: User, action: str, detail: str = "") -> None:
    get_db().add(
        AuditEntry(
            at=now(),
            user_id=user.id,
            action=action,
            subject=f"user:{user.id}",
            detail=f"from {client_address()}" + (f"; {detail}" if detail else ""),
        )
    )
