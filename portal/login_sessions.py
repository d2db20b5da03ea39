"""Which session cookies still sign someone in.

A session carries the login's ``session_version`` from sign-in; bumping the version in
the database (billing.logins.end_sessions) ends every session signed in before, on every
worker at once, so a captured cookie dies with sign-out, a password change, a role change
or deactivation instead of living out its 8 hours.
"""

from __future__ import annotations

from hashlib import sha512

from flask import Flask, request, session
from flask_login import login_user
from sqlalchemy.orm import joinedload

from billing.users import User
from portal.db import get_db
from portal.extensions import login_manager

VERSION_KEY = "_session_version"


def sign_in(user: User) -> None:
    """Start a signed-in session for ``user`` (the caller cleared the old one)."""
    login_user(user)
    session[VERSION_KEY] = user.session_version


def renew(user: User) -> None:
    """Keep this browser signed in after its login's other sessions were ended."""
    session[VERSION_KEY] = user.session_version


def client_address() -> str:
    """The client's address: Werkzeug's ProxyFix rewrites remote_addr when
    TRUSTED_PROXY_COUNT proxies are trusted; a client's own X-Forwarded-For is never read."""
    return request.remote_addr or "unknown"


def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit() or len(user_id) >= 19:
        return None
    # A member's company heads every member page: loaded with the login, not after it.
    user = get_db().get(User, int(user_id), options=[joinedload(User.customer)])
    if user is None or not user.active:
        return None
    if session.get(VERSION_KEY) != user.session_version:
        return None
    return user


def _session_identifier() -> str:
    # Flask-Login's own identifier reads X-Forwarded-For, which any client can send.
    agent = request.headers.get("User-Agent", "")
    return sha512(f"{client_address()}|{agent}".encode()).hexdigest()


def init_app(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager._session_identifier_generator = _session_identifier  # type: ignore[attr-defined]
