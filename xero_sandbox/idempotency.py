"""Idempotency-Key replay, as Xero does it.

A PUT or POST carrying an Idempotency-Key that the organisation has already seen within the
last 6 minutes gets the first response again and writes nothing. After that Xero forgets the
key, so a late retry writes a second time: callers must look the object up before retrying
once the window has passed (see ARCHITECTURE.md, "Every write to Xero is idempotent").

Keys are per organisation. A second request with a key that is still being processed waits
for the first and then replays it, so two racing retries cannot both write. Xero documents
keys of at most 128 characters but not its answer to a longer one, so the sandbox invents no
refusal (the portal's keys are 48).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .clock import Clock

REPLAY_WINDOW_SECONDS = 6 * 60


@dataclass
class StoredResponse:
    status: int
    body: bytes
    content_type: str
    stored_at: float


class IdempotencyCache:
    def __init__(self, clock: Clock, window_seconds: float = REPLAY_WINDOW_SECONDS) -> None:
        self.clock = clock
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._responses: dict[tuple[str, str], StoredResponse] = {}
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    def lock_for(self, tenant_id: str, key: str) -> threading.Lock:
        """The lock serialising requests that share a key; hold it from lookup to store."""
        with self._lock:
            return self._key_locks.setdefault((tenant_id, key), threading.Lock())

    def lookup(self, tenant_id: str, key: str) -> StoredResponse | None:
        with self._lock:
            stored = self._responses.get((tenant_id, key))
            if stored is None:
                return None
            if self.clock.now() - stored.stored_at >= self.window_seconds:
                del self._responses[(tenant_id, key)]
                return None
            return stored

    def store(self, tenant_id: str, key: str, status: int, body: bytes, content_type: str) -> None:
        with self._lock:
            self._responses[(tenant_id, key)] = StoredResponse(
                status, body, content_type, self.clock.now()
            )
