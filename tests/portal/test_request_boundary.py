"""The request boundary of the transaction rule (portal.db): a request's writes are kept
unless an exception escaped its view or the view asked for a rollback; the status code
decides nothing."""

from __future__ import annotations

import pytest
from flask import abort
from flask_wtf import FlaskForm
from sqlalchemy import select

from billing.login_throttle import LoginFailure
from portal.db import get_db, rollback_request
from portal.views import form_status
from tests.conftest import make_test_app


@pytest.fixture
def app(database_url, db):
    app = make_test_app(database_url, session_factory=lambda: db, WTF_CSRF_ENABLED=False)

    def write(name: str) -> None:
        get_db().add(LoginFailure(email=f"{name}@example.com", address="boundary"))
        get_db().flush()

    @app.post("/boundary/ok")
    def ok():
        write("ok")
        return "saved"

    @app.post("/boundary/error-kept")
    def error_kept():
        write("error-kept")  # a record of the failure itself, e.g. a counted sign-in
        return "refused", 401

    @app.post("/boundary/rolled-back")
    def rolled_back():
        write("rolled-back")
        rollback_request()
        return "nothing kept"

    @app.post("/boundary/aborted")
    def aborted():
        write("aborted")
        abort(409)

    @app.post("/boundary/raised")
    def raised():
        write("raised")
        raise RuntimeError("boom")

    @app.post("/boundary/form")
    def form():
        write("form")
        return "errors", form_status(FlaskForm())

    return app


def saved(db) -> list[str]:
    rows = db.scalars(select(LoginFailure.email).where(LoginFailure.address == "boundary"))
    return [email.split("@")[0] for email in rows]


@pytest.mark.parametrize(
    ("path", "status", "kept"),
    [
        ("ok", 200, True),
        ("error-kept", 401, True),
        ("rolled-back", 200, False),
        ("aborted", 409, False),
        ("form", 422, False),
    ],
)
def test_writes_are_kept_unless_the_request_failed(app, db, path, status, kept):
    response = app.test_client().post(f"/boundary/{path}")
    assert response.status_code == status
    assert saved(db) == ([path] if kept else [])


def test_an_exception_rolls_back(app, db):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().post("/boundary/raised").status_code == 500
    assert saved(db) == []


def test_a_rollback_asked_by_one_request_does_not_reach_the_next(app, db):
    client = app.test_client()
    with app.app_context():  # one app context (and g) for both requests
        client.post("/boundary/rolled-back")
        client.post("/boundary/ok")
    assert saved(db) == ["ok"]
