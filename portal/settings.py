"""Load settings: config/defaults.py, then environment variables of the same names."""

from __future__ import annotations

import os
from typing import Any

from flask import Config

from billing.recurring.periods import MAX_BILLING_DAY
from portal.resources import resource_dir

DEFAULTS_FILE = resource_dir("config") / "defaults.py"
DEMO_SECRET_KEY = "demo-only-secret-key-not-for-production"  # noqa: S105 - demo mode only
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; start-up stops with this message."""


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ConfigError(f"{name} must be 1 or 0 (true/false), not {raw!r}.")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    return raw


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    defaults = Config(str(DEFAULTS_FILE.parent))
    defaults.from_pyfile(str(DEFAULTS_FILE))
    settings = dict(defaults)
    for name, default in list(settings.items()):
        if name in os.environ:
            settings[name] = _coerce(name, os.environ[name], default)
    settings.update(overrides or {})
    if settings["PORTAL_DEMO"]:
        settings["SECRET_KEY"] = settings["SECRET_KEY"] or DEMO_SECRET_KEY
        # The demo is served over plain http on 127.0.0.1.
        settings["SESSION_COOKIE_SECURE"] = False
        settings["REMEMBER_COOKIE_SECURE"] = False
    for name in ("INVITATION_LINK_HOURS", "MAX_CONTENT_LENGTH", "SYNC_LOG_RETENTION_DAYS"):
        if int(settings[name]) < 1:
            raise ConfigError(f"{name} must be at least 1, not {settings[name]!r}.")
    if not 1 <= int(settings["BILLING_DAY"]) <= MAX_BILLING_DAY:
        raise ConfigError(
            f"BILLING_DAY must be 1 to {MAX_BILLING_DAY} (every month has it), "
            f"not {settings['BILLING_DAY']!r}."
        )
    if not 0 <= int(settings["BILLING_HOUR"]) <= 23:
        raise ConfigError(f"BILLING_HOUR must be 0 to 23 (UTC), not {settings['BILLING_HOUR']!r}.")
    if not settings["SECRET_KEY"]:
        raise ConfigError(
            "SECRET_KEY is not set. Set it to a long random string (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or run the "
            "demo with PORTAL_DEMO=1."
        )
    return settings
