"""TOTP second factor for admins. Secrets are stored encrypted; each code works once."""

from __future__ import annotations

from datetime import datetime

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from billing.users import User
from portal.extensions import secret_box

ISSUER = "Members portal"
#: One step either side tolerates a phone clock that is up to 30 seconds off.
TOLERANCE_STEPS = 1


def new_secret(user: User) -> str:
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = secret_box().encrypt(secret)
    user.totp_enabled = False
    user.totp_last_step = None
    return secret


def secret_of(user: User) -> str | None:
    if not user.totp_secret_encrypted:
        return None
    return secret_box().decrypt(user.totp_secret_encrypted)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment link as an inline SVG QR code (segno: no image files, no script)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff"))


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is, within the tolerance; None if it is none's."""
    code = code.strip()
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - TOLERANCE_STEPS, current + TOLERANCE_STEPS + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def accept(db: Session, user: User, code: str, now: datetime) -> bool:
    """True when ``code`` is valid now and its time step was not used before (RFC 6238
    section 5.2). Claims the step with one conditional UPDATE, so two requests carrying the
    same code cannot both pass, whatever the database."""
    secret = secret_of(user)
    step = None if secret is None else matching_step(secret, code, now)
    if step is None:
        return False
    claimed = db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True
