"""Search boxes: what an admin types is matched literally, never as SQL wildcards."""

from __future__ import annotations

from sqlalchemy import or_

ESCAPE = "\\"


def contains(query: str) -> str:
    """A LIKE pattern matching ``query`` anywhere; use with ``escape=ESCAPE``."""
    escaped = query.strip()
    for special in (ESCAPE, "%", "_"):
        escaped = escaped.replace(special, ESCAPE + special)
    return f"%{escaped}%"


def any_contains(columns, query: str):
    """A WHERE clause: any of ``columns`` contains ``query``, case-insensitively."""
    pattern = contains(query)
    return or_(*(column.ilike(pattern, escape=ESCAPE) for column in columns))
