"""Xero's JSON dialect: Microsoft ``/Date(ms+0000)/`` dates and exact Decimal amounts."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ms_date(value: date | datetime) -> str:
    """``/Date(ms+0000)/`` for a datetime, or for midnight UTC of a date."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"/Date({int(value.timestamp() * 1000)}+0000)/"


def ms_timestamp(epoch_seconds: float) -> str:
    return f"/Date({int(epoch_seconds * 1000)}+0000)/"


def iso_date_string(value: date) -> str:
    """The ``DateString`` twin Xero sends beside ``Date``."""
    return f"{value.isoformat()}T00:00:00"


def parse_date(value: object) -> date:
    """A date from what clients send: ``/Date(ms)/``, ``YYYY-MM-DD`` or an ISO datetime."""
    if isinstance(value, str):
        text = value.strip()
        match = _MS_DATE.match(text)
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).date()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise ValueError(f"not a date: {value!r}")


def comparable(value: object) -> object:
    """A JSON value as Xero compares it: numbers as Decimal, ``/Date(ms)/`` and ISO date
    strings as UTC datetimes, anything else as it is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal | int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        match = _MS_DATE.match(value.strip())
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    return value


def parse_timestamp(value: str) -> float:
    """Epoch seconds from an If-Modified-Since value (ISO 8601 or RFC 1123), UTC if naive."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        parsed = parsedate_to_datetime(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Amounts have at most 4 places, well inside a double's exact range, so the JSON
        # number a client reads back (xero-python parses floats as Decimal) is exact.
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: Any) -> str:
    return json.dumps(payload, default=_default)


def loads(body: bytes | str) -> Any:
    """Parse a request body keeping numbers exact."""
    return json.loads(body, parse_float=Decimal)
