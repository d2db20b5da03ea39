"""Test fixtures, in the pattern of Warehouse: the schema is built once per run through the
real Alembic migrations, and every test runs inside a transaction that is rolled back.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set. On PostgreSQL each run creates
its own scratch database next to the one named (and drops it at the end), so tests that
must commit across connections never touch anything else.
"""

from __future__ import annotations

import os
import uuid

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from billing.events import EventBus
from portal import create_app, migrations
from portal.db import make_engine
from tests import factories

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"

# Hypothesis times its own input generation and fails a test whose draws were slow: on a
# machine shared with other work (CI beside a benchmark) that is the machine, not the code.
# No deadline either, for the same reason; what a property checks is unchanged.
settings.register_profile("portal", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("portal")


def scratch_postgres_database(base_url: str, purpose: str):
    """Create an empty database beside ``base_url``; return its URL and a function to drop it."""
    url = make_url(base_url)
    name = f"portal_{purpose}_{uuid.uuid4().hex[:10]}"
    # NullPool: no idle connection per scratch database for the whole session (PostgreSQL
    # allows 100 in all, and several test runs may share the server).
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def fresh_database_url(tmp_path_factory):
    """Returns a function giving the URL of a new, empty database of the kind under test."""
    drops = []

    def make(purpose: str = "test") -> str:
        base = os.environ.get("TEST_DATABASE_URL")
        if base:
            url, drop = scratch_postgres_database(base, purpose)
            drops.append(drop)
            return url
        path = tmp_path_factory.mktemp(purpose) / "portal.db"
        return f"sqlite:///{path}"

    yield make
    for drop in drops:
        drop()


@pytest.fixture(scope="session")
def database_url(fresh_database_url):
    url = fresh_database_url("test")
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


class TestSession(Session):
    """The test's session, shared with the app: the app's end-of-request close() must not
    detach the objects a test is still holding."""

    def close(self) -> None:
        pass

    def really_close(self) -> None:
        super().close()


@pytest.fixture
def db(engine):
    """A session inside a transaction that is rolled back after the test.

    The app's commits only release a SAVEPOINT, so a request's commit/rollback behaviour is
    still exercised while nothing outlives the test.
    """
    connection = engine.connect()
    transaction = connection.begin()
    session = TestSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    # The domain alone: its events go to a bus of its own, with no subscribers (the app
    # fixture attaches the app's bus instead).
    EventBus().attach(session)
    factories.bind(session)
    yield session
    session.really_close()
    transaction.rollback()
    connection.close()


class Client(FlaskClient):
    """A test client that can produce the CSRF token a real form would carry."""

    def csrf_token(self) -> str:
        # Mirrors flask_wtf.csrf.generate_csrf: a raw token in the session, signed for the form.
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", os.urandom(20).hex())
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        return self.post(url, data={**(data or {}), "csrf_token": self.csrf_token()}, **kwargs)


def make_test_app(database_url: str, session_factory=None, **overrides):
    settings = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        # The test client speaks plain http; secure cookies are checked in their own test.
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        **overrides,
    }
    app = create_app(settings, session_factory=session_factory)
    app.test_client_class = Client
    return app


@pytest.fixture
def app_settings():
    """Override per test module/test to change the app's settings."""
    return {}


@pytest.fixture
def app(database_url, db, app_settings):
    app = make_test_app(database_url, session_factory=lambda: db, **app_settings)
    # The test's session is the app's: what a test does with it directly (issue an
    # invoice) reaches the app's subscribers (the outbox), as in a request.
    app.extensions["event_bus"].attach(db)
    return app


@pytest.fixture
def client(app) -> Client:
    return app.test_client()


def login(client: Client, email: str, password: str = factories.PASSWORD):
    return client.post_form("/login", {"email": email, "password": password})


@pytest.fixture
def admin(db):
    return factories.AdminFactory()


@pytest.fixture
def admin_client(client, admin):
    response = login(client, admin.email)
    assert response.status_code == 302, response.data
    return client


@pytest.fixture
def member(db):
    return factories.MemberFactory()


@pytest.fixture
def member_client(client, member):
    response = login(client, member.email)
    assert response.status_code == 302, response.data
    return client
