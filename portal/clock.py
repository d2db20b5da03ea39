"""The time the web layer acts on: sign-in throttling, TOTP steps, invitation links.

Production reads the system clock. Tests put a callable in ``app.extensions["clock"]``
(see ``tests/portal/clocks.py``) so that windows and expiries are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from billing.db import utcnow


def now() -> datetime:
    clock: Callable[[], datetime] = current_app.extensions.get("clock", utcnow)
    return clock()
