"""A clock the tests move by hand, installed as the app's ``extensions["clock"]``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FrozenClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def freeze(app, at: datetime | None = None) -> FrozenClock:
    """Install a frozen clock on ``app`` (undone by the app fixture's end of life)."""
    clock = FrozenClock(at)
    app.extensions["clock"] = clock
    return clock
