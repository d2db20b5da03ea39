"""Small helpers every blueprint's views share."""

from __future__ import annotations

import re

from flask import abort, current_app, request

from billing.statements import KeysetPage, Page, keyset_page, paginate
from portal.converters import MAX_ID
from portal.db import rollback_request

#: A query-string id as the route converter takes it (portal.converters): ASCII digits,
#: no sign, no leading zero.
QUERY_ID = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def form_status(form) -> int:
    """200 for a first display, 422 for a submitted form that came back with errors: such a
    form saves nothing (whatever the view flushed while trying it is rolled back)."""
    if form.is_submitted():
        rollback_request()
        return 422
    return 200


def page_arg() -> int:
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        abort(404)
    return int(page)


def paginated(db, stmt) -> Page:
    return paginate(db, stmt, page_arg(), current_app.config["PAGE_SIZE"])


def keyset_paginated(db, stmt, key, id_of=lambda item: item.id, **options) -> KeysetPage:
    """A long admin list's page: ``?before=ID`` (older) or ``?after=ID`` (newer)."""
    return keyset_page(
        db,
        stmt,
        key,
        id_of,
        before=id_arg("before"),
        after=id_arg("after"),
        per_page=current_app.config["PAGE_SIZE"],
        **options,
    )


def id_arg(name: str) -> int | None:
    """An optional id from the query string (``?customer_id=``), or None when absent/blank.

    A malformed one is a bad filter, 400 like any other (not digits, a sign, a leading zero,
    non-ASCII digits). A well-formed number outside 1..``MAX_ID`` is a 404, as the same id in
    a path is: it can name no row, and PostgreSQL would refuse it in a query with an error.
    """
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not QUERY_ID.fullmatch(raw):
        abort(400, f"{name} must be a number.")
    # Length first: int() of more than 4300 digits raises ValueError (CPython's DoS guard).
    if len(raw) > len(str(MAX_ID)) or not 1 <= int(raw) <= MAX_ID:
        abort(404, f"No such {name.removesuffix('_id')}.")
    return int(raw)


def found(fetch, *args):
    """Call a ``billing`` getter; its NotFound becomes a 404 page."""
    from billing.errors import NotFound
    from portal.db import get_db

    try:
        return fetch(get_db(), *args)
    except NotFound:
        abort(404)
