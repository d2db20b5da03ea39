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

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
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


log = logging.getLogger(__name__)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

#: Execution option of a request's first transaction when the request only reads (a GET):
#: on SQLite it begins without the write lock.
READS_ONLY = "portal_reads_only"


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, and take the write lock up front
    when a transaction may write.

    pysqlite's own transaction handling breaks SAVEPOINTs, and a deferred transaction that
    reads and then writes can fail at once with "database is locked" when another writer
    arrived in between. BEGIN IMMEDIATE queues writers on the busy timeout instead. A
    request that only reads (``READS_ONLY``) begins deferred, so readers never queue behind
    each other or behind a writer: in WAL mode each reads its own snapshot.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        # Readers and the one writer do not block each other (file databases only).
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        reads_only = connection.get_execution_options().get(READS_ONLY, False)
        connection.info[READS_ONLY] = reads_only
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _write_in_a_read(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        # SQLite lets the write go ahead (it fails only when another writer came first);
        # the log names the GET view that should be marked ``writes_on_get``.
        if connection.info.get(READS_ONLY) and _WRITE.match(statement):
            log.warning(
                "%s %s wrote in a read-only transaction; mark its view writes_on_get",
                request.method if has_request_context() else "-",
                request.path if has_request_context() else "-",
            )


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


#: Methods that change nothing, unless their view says otherwise (``writes_on_get``).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes_on_get(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a GET view that writes (a return from Stripe recording the payment): its
    transaction takes the write lock up front on SQLite, as every POST's does."""
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def _request_reads_only() -> bool:
    if request.method not in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "writes_on_get", False)


def get_db() -> Session:
    if "db_session" not in g:
        session = current_app.extensions["db_session_factory"]()
        if has_request_context() and _request_reads_only() and not session.in_transaction():
            # The request's first transaction begins as a read (portal.db.READS_ONLY); one
            # begun after outside_transaction() takes the write lock as usual.
            session.connection(execution_options={READS_ONLY: True})
        g.db_session = session
    db: Session = g.db_session
    return db
