"""On SQLite a request that only reads begins without the write lock (portal.db): readers do
not queue behind a writer or each other; a request that may write takes the lock first."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, text

from portal import migrations
from portal.db import writes_on_get
from tests.conftest import make_test_app


@pytest.fixture
def served(tmp_path):
    """The app on its own SQLite file, with its own engine (not the test's shared session)."""
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    migrations.upgrade(url)
    app = make_test_app(url)

    @app.get("/_test/touch")
    @writes_on_get
    def touch():
        from portal.db import get_db

        get_db().execute(text("SELECT 1"))
        return "ok"

    @app.get("/_test/sneaky-write")
    def sneaky_write():
        from portal.db import get_db

        get_db().execute(text("UPDATE alembic_version SET version_num = version_num"))
        return "ok"

    begins: list[str] = []
    engine = app.extensions["db_engine"]
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: (
            begins.append(statement) if statement.startswith("BEGIN") else None
        ),
    )
    yield app, engine, begins
    engine.dispose()


def test_a_get_begins_deferred_and_a_post_immediate(served):
    app, _, begins = served
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert begins == ["BEGIN"]
    begins.clear()
    client.post_form("/login", {"email": "nobody@example.com", "password": "x"})
    assert begins and begins[0] == "BEGIN IMMEDIATE"
    begins.clear()
    # A GET view that writes says so, and takes the write lock like a POST.
    assert client.get("/_test/touch").status_code == 200
    assert begins == ["BEGIN IMMEDIATE"]


def test_a_read_does_not_wait_for_a_writer(served):
    app, engine, _ = served
    with engine.connect() as writer:
        held = writer.begin()  # BEGIN IMMEDIATE, as every write transaction
        writer.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
        # The write lock is held (and would hold a BEGIN IMMEDIATE for the 30 s busy
        # timeout, then fail): the read answers at once from its own snapshot.
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.get_json()["database"] == "ok"
        held.rollback()


def test_a_get_that_writes_unmarked_is_logged(served, caplog):
    app, _, _ = served
    with caplog.at_level(logging.WARNING, logger="portal.db"):
        assert app.test_client().get("/_test/sneaky-write").status_code == 200
    assert "GET /_test/sneaky-write wrote in a read-only transaction" in caplog.text


def test_the_database_is_in_wal_mode(served):
    _, engine, _ = served
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
