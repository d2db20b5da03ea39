"""The sandbox's sense of time.

Xero's rules are all about time windows: access tokens live 30 minutes, Idempotency-Key
replays last 6 minutes, rate limits count a rolling minute and day. A clock that tests and
the benchmark can move forward lets them cross those windows without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Real time plus an offset; ``advance`` moves the offset forward.

    With ``start`` given the clock is frozen at that epoch time and only moves when
    advanced, which makes timestamps in tests exact.
    """

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = start
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, sandbox time."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def freeze(self) -> None:
        """Stop the clock where it is; from now on it moves only when advanced."""
        with self._lock:
            if self._frozen is None:
                self._frozen = time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
