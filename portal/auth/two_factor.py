"""TOTP second factor for admins. Secrets are stored encrypted."""

from __future__ import annotations

import pyotp

from billing.users import User
from portal.extensions import secret_box

ISSUER = "Members portal"


def new_secret(user: User) -> str:
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = secret_box().encrypt(secret)
    user.totp_enabled = False
    return secret


def secret_of(user: User) -> str | None:
    if not user.totp_secret_encrypted:
        return None
    return secret_box().decrypt(user.totp_secret_encrypted)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def verify(user: User, code: str) -> bool:
    secret = secret_of(user)
    if secret is None:
        return False
    # One step either side tolerates a phone clock that is up to 30 seconds off.
    return pyotp.TOTP(secret).verify(code.strip(), valid_window=1)
