"""Small helpers every blueprint's views share."""

from __future__ import annotations

from flask import abort, current_app, request
from werkzeug.routing import IntegerConverter

from billing.statements import Page, paginate
from portal.db import rollback_request

#: Ids are INTEGER columns (32-bit on PostgreSQL): a larger one names nothing, and must not
#: reach the database, which would refuse it with an error (a 500 instead of a 404).
MAX_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number past ``MAX_ID`` matches no route (404)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's parameter name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


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


def id_arg(name: str) -> int | None:
    """An optional integer id from the query string; anything else is a 400."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12 or int(raw) > MAX_ID:
        abort(400, f"{name} must be a number.")
    return int(raw)


def found(fetch, *args):
    """Call a ``billing`` getter; its NotFound becomes a 404 page."""
    from billing.errors import NotFound
    from portal.db import get_db

    try:
        return fetch(get_db(), *args)
    except NotFound:
        abort(404)
