"""The database session: one per request (or CLI command), committed once at its end.

The request boundary of the transaction rule (``billing.db``). Services flush and never
commit. A request's writes are committed when it ends, unless it failed:

- an exception escaped the view (``abort()`` and every error page included), or
- the view called ``rollback_request()``: a form sent back with errors
  (``portal.views.form_status``), an operation refused half-way, a JSON error answer.

Then everything the request flushed is rolled back, so a half-done change never reaches
the database. The status code decides nothing: an error answer that is a record of its own
(a counted login failure, a failed Xero call on the health panel) is kept simply by not
asking for a rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from billing.events import EventBus


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_transactions(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, and take the write lock up front.

    pysqlite's own transaction handling breaks SAVEPOINTs, and a deferred transaction that
    reads and then writes can fail at once with "database is locked" when another writer
    arrived in between. BEGIN IMMEDIATE queues writers on the busy timeout instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app: Flask, session_factory: Callable[[], Session] | None = None) -> None:
    # The app's sessions publish its domain events to its own bus (billing.events).
    bus: EventBus = app.extensions["event_bus"]
    if session_factory is None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["db_engine"] = engine
        session_factory = sessionmaker(engine, expire_on_commit=False, info=bus.session_info())
    else:
        given = session_factory

        def session_factory() -> Session:
            return bus.attach(given())

    app.extensions["db_session_factory"] = session_factory

    handle_user_exception = app.handle_user_exception

    def _failed(error: Exception) -> HTTPException | ResponseReturnValue:
        # Every exception raised while handling a request (abort() included) passes here
        # before it becomes an error page: the request's writes are not kept.
        rollback_request()
        return handle_user_exception(error)

    app.handle_user_exception = _failed  # type: ignore[method-assign, assignment]

    @app.after_request
    def _commit_or_roll_back(response: Response) -> Response:
        session: Session | None = g.pop("db_session", None)
        failed = g.pop("db_rollback", False)
        if session is not None:
            try:
                if failed:
                    session.rollback()
                else:
                    session.commit()
            finally:
                session.close()
        return response

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        # Reached with a session still open only when the request raised: roll it back.
        g.pop("db_rollback", None)
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def rollback_request() -> None:
    """Discard what this request has written, whatever it answers."""
    g.db_rollback = True


def get_db() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_session_factory"]()
    session: Session = g.db_session
    return session
