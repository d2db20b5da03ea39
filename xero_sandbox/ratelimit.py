"""Xero's API limits, per organisation, with the headers Xero sends.

60 calls in any rolling minute, 5,000 in a rolling day and 5 in flight at once for each
organisation, plus 10,000 a minute for the app across all organisations. Every accounting
response carries X-DayLimit-Remaining, X-MinLimit-Remaining and X-AppMinLimit-Remaining; a
call over a limit gets 429 with Retry-After and X-Rate-Limit-Problem. Rejected calls do not
count against the windows.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from .clock import Clock

MINUTE = 60.0
DAY = 24 * 60 * 60.0


@dataclass
class RateLimitSettings:
    enabled: bool = True
    per_minute: int = 60
    per_day: int = 5000
    concurrent: int = 5
    app_per_minute: int = 10_000


@dataclass
class RateDecision:
    allowed: bool
    headers: dict[str, str]
    #: "minute", "daily", "concurrent" or "appminute" when refused.
    problem: str | None = None
    retry_after: int = 0


@dataclass
class _TenantUsage:
    minute: deque[float] = field(default_factory=deque)
    day: deque[float] = field(default_factory=deque)
    in_flight: int = 0


class RateLimiter:
    def __init__(self, clock: Clock, settings: RateLimitSettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or RateLimitSettings()
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantUsage] = {}
        self._app_minute: deque[float] = deque()

    def configure(self, **changes: object) -> RateLimitSettings:
        with self._lock:
            for name, value in changes.items():
                if not hasattr(self.settings, name):
                    raise ValueError(f"unknown rate limit setting {name!r}")
                setattr(self.settings, name, value)
            return self.settings

    def reset(self) -> None:
        with self._lock:
            self._tenants.clear()
            self._app_minute.clear()

    def acquire(self, tenant_id: str) -> RateDecision:
        """Count a call for the organisation, or refuse it; pair with ``release``."""
        now = self.clock.now()
        s = self.settings
        with self._lock:
            usage = self._tenants.setdefault(tenant_id, _TenantUsage())
            _expire(usage.minute, now - MINUTE)
            _expire(usage.day, now - DAY)
            _expire(self._app_minute, now - MINUTE)
            if s.enabled:
                refusal = None
                if usage.in_flight >= s.concurrent:
                    refusal = ("concurrent", 1)
                elif len(usage.minute) >= s.per_minute:
                    refusal = ("minute", _wait(usage.minute, s.per_minute, MINUTE, now))
                elif len(usage.day) >= s.per_day:
                    refusal = ("daily", _wait(usage.day, s.per_day, DAY, now))
                elif len(self._app_minute) >= s.app_per_minute:
                    refusal = (
                        "appminute",
                        _wait(self._app_minute, s.app_per_minute, MINUTE, now),
                    )
                if refusal:
                    problem, retry_after = refusal
                    headers = self._headers(usage)
                    headers["Retry-After"] = str(retry_after)
                    headers["X-Rate-Limit-Problem"] = problem
                    return RateDecision(False, headers, problem, retry_after)
            usage.minute.append(now)
            usage.day.append(now)
            self._app_minute.append(now)
            usage.in_flight += 1
            return RateDecision(True, self._headers(usage))

    def release(self, tenant_id: str) -> None:
        with self._lock:
            usage = self._tenants.get(tenant_id)
            if usage and usage.in_flight > 0:
                usage.in_flight -= 1

    def _headers(self, usage: _TenantUsage) -> dict[str, str]:
        s = self.settings
        return {
            "X-DayLimit-Remaining": str(max(0, s.per_day - len(usage.day))),
            "X-MinLimit-Remaining": str(max(0, s.per_minute - len(usage.minute))),
            "X-AppMinLimit-Remaining": str(max(0, s.app_per_minute - len(self._app_minute))),
        }


def _expire(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()


def _wait(window: deque[float], limit: int, span: float, now: float) -> int:
    """Whole seconds until enough old calls leave the window for one more."""
    oldest_blocking = window[len(window) - limit]
    return max(1, math.ceil(oldest_blocking + span - now))
