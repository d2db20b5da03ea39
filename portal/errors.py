"""Error pages. A CSRF failure is a 400 with a message a person understands."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError


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
        (500, "Something went wrong"),
    ):
        app.register_error_handler(code, _page(code, title))


def _page(code: int, title: str):
    def handler(error):
        message = getattr(error, "description", None) if code != 500 else None
        return render_template("error.html", title=title, message=message), code

    return handler
