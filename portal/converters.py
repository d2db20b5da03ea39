"""The route converter every ``<int:...>`` id goes through (registered in ``create_app``).

An id that names nothing must answer 404 before it reaches the database: PostgreSQL refuses
an integer past its column type with an error, and SQLite past 2^63 (either was a 500).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

#: Every id column is an ``Integer`` primary key or foreign key (``Mapped[int]``), which is
#: 32-bit on PostgreSQL: the smallest id type in the schema bounds every id.
MAX_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in every route: 1..``MAX_ID`` in plain ASCII digits, else no match (404).

    Werkzeug's own converter takes leading zeros (``/invoices/007`` and ``/invoices/7``
    would be two addresses of one page) and, through ``\\d``, any Unicode digit ("١٢").
    Ids start at 1, so 0 names nothing either.
    """

    regex = r"[1-9][0-9]*"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
