"""Faults on demand: the failures a Xero client has to survive, when a test asks for them.

Kinds:
- ``status``: answer with an error status (500, 503...) before doing anything. A 429 is
  answered as Xero's rate limiter answers: its JSON body, ``Retry-After`` (``retry_after``
  seconds) and ``X-Rate-Limit-Problem`` (``minute`` unless ``problem`` says otherwise).
- ``slow``: sleep ``seconds`` before handling (or after, with ``after_write=True``, so the
  write lands while the client has already timed out).
- ``drop``: do the write, then lose the answer. ``how="gateway"`` (default) replaces the
  response with an empty 504, which xero-python raises as ``ApiException`` with status 504;
  ``how="close"`` shuts the socket without any response, which urllib3 (retries off) raises
  as ``urllib3.exceptions.ProtocolError``. Either way the client cannot know the outcome.

Faults are queued with a count and an optional method and path pattern (fnmatch, against
the request path, e.g. ``/api.xro/2.0/Invoices*``). A fault *rate* makes each call fail with
probability ``p`` in mixed ways from a seeded RNG, for fault campaigns that must replay.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "slow", "drop")


@dataclass
class Fault:
    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 503
    seconds: float = 0.0
    after_write: bool = False
    how: str = "gateway"
    #: For an injected 429: what Retry-After and X-Rate-Limit-Problem say.
    retry_after: int = 60
    problem: str = "minute"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {KINDS}")
        if self.how not in ("gateway", "close"):
            raise ValueError("drop faults happen by 'gateway' (504) or 'close'")
        if self.method:
            self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method.upper():
            return False
        return not self.path or fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "seconds": self.seconds,
            "after_write": self.after_write,
            "how": self.how,
            "retry_after": self.retry_after,
            "problem": self.problem,
        }


@dataclass
class FaultRate:
    probability: float
    seed: int = 0
    kinds: tuple[str, ...] = ("status", "drop")
    statuses: tuple[int, ...] = (500, 503)
    method: str | None = None
    path: str | None = None
    slow_seconds: float = 0.2
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        self.rng = random.Random(self.seed)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._rate: FaultRate | None = None
        #: Faults that fired, oldest first: (method, path, kind) for test assertions.
        self.fired: list[tuple[str, str, str]] = []

    def add(self, kind: str, count: int = 1, **options: object) -> Fault:
        fault = Fault(kind=kind, count=count, **options)  # type: ignore[arg-type]
        with self._lock:
            self._queue.append(fault)
        return fault

    def set_rate(self, probability: float, seed: int = 0, **options: object) -> FaultRate:
        rate = FaultRate(probability, seed, **options)  # type: ignore[arg-type]
        with self._lock:
            self._rate = rate
        return rate

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rate = None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._queue if f.count > 0]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this call, if any, consuming one of its count."""
        with self._lock:
            for fault in self._queue:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    self._queue = [f for f in self._queue if f.count > 0]
                    self.fired.append((method, path, fault.kind))
                    return fault
            rate = self._rate
            if rate is None:
                return None
            probe = Fault("status", method=rate.method, path=rate.path)
            if not probe.matches(method, path) or rate.rng.random() >= rate.probability:
                return None
            kind = rate.rng.choice(rate.kinds)
            fault = Fault(
                kind,
                status=rate.rng.choice(rate.statuses),
                seconds=rate.slow_seconds,
                how=rate.rng.choice(("gateway", "close")) if kind == "drop" else "gateway",
            )
            self.fired.append((method, path, kind))
            return fault
