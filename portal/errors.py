"""Error pages. A CSRF failure is a 400 with a message a person understands.

The 500 page is the last line: it is shown because something already failed (often the
database), so it must not fail in its turn. It rolls the request's session back first,
renders a template that needs nothing (no signed-in user, no database, no CSRF token,
unlike ``base.html``), and falls back to plain text if even that raises.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError

from portal.forms import unstorable

log = logging.getLogger(__name__)

SERVER_ERROR_TEMPLATE = "error_500.html"
SERVER_ERROR_TEXT = "Something went wrong on our side. Please try again in a moment."


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template(
            "error.html",
            title="Form expired",
            message="The form was missing its security token or it has expired. "
            "Go back, reload the page and try again.",
        ), 400

    for code, title in (
        (400, "Bad request"),
        (403, "Not allowed"),
        (404, "Not found"),
        (405, "Method not allowed"),
        (410, "Link no longer valid"),
        (413, "Too large"),
        (429, "Too many attempts"),
    ):
        app.register_error_handler(code, _page(code, title))
    app.register_error_handler(500, server_error)
    app.before_request(refuse_unstorable_query)


def _page(code: int, title: str):
    def handler(error):
        message = getattr(error, "description", None)
        return render_template("error.html", title=title, message=message), code

    return handler


def refuse_unstorable_query() -> None:
    """A query string (``?q=`` on every list page, any filter) holding a NUL or another
    control character is a 400 before any view runs: such a search term could match
    nothing a person typed, and PostgreSQL refuses a NUL in a query with an error."""
    for key, value in request.args.items(multi=True):
        if unstorable(key) or unstorable(value):
            abort(400, "The address contains a character that cannot be used in a search.")


def server_error(_error: Exception) -> tuple[str, int, dict[str, str]] | Response:
    _discard_session()
    try:
        # The bare Jinja template: no context processors, so nothing reads the session,
        # the signed-in user or the database.
        page = current_app.jinja_env.get_template(SERVER_ERROR_TEMPLATE).render()
        return page, 500, {"Content-Type": "text/html; charset=utf-8"}
    except Exception:  # noqa: BLE001 - whatever broke, the answer is still a 500 page
        log.exception("the 500 page could not be rendered; answering in plain text")
        return Response(SERVER_ERROR_TEXT, 500, mimetype="text/plain")


def _discard_session() -> None:
    """Roll back and let go of the request's session, so nothing after this (the
    after-request commit, the teardown) touches a connection that may be broken."""
    session = g.pop("db_session", None)
    g.pop("db_rollback", None)
    if session is None:
        return
    try:
        session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection must not stop the error page
        log.exception("rolling back after a server error failed")
    try:
        session.close()
    except Exception:  # noqa: BLE001
        log.exception("closing the session after a server error failed")
