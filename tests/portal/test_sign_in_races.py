"""Twenty wrong passwords for one account at once, each request on its own connection and
committing for real: exactly MAX_ACCOUNT_FAILURES passwords are checked, the rest wait.

Without the limiter's lock, PostgreSQL lets every request count the failures before any
has recorded its own (18 of 20 were checked before the lock). SQLite's single writer
serialises the requests anyway; the test runs on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import select

from billing.login_throttle import MAX_ACCOUNT_FAILURES
from billing.users import Role, User, create_user
from portal import migrations
from portal.auth import two_factor
from portal.db import make_engine
from tests.conftest import login, make_test_app
from tests.factories import domain_session

PARALLEL = 20
EMAIL = "racer@example.com"
PASSWORD = "the right password 123"


@pytest.fixture
def committed_app(fresh_database_url):
    url = fresh_database_url("sign_in_races")
    migrations.upgrade(url)
    engine = make_engine(url)
    with domain_session(engine) as db, db.begin():
        create_user(db, email=EMAIL, name="Racer", password=PASSWORD, role=Role.ADMIN)
    engine.dispose()
    app = make_test_app(url)
    app.config["TEST_URL"] = url
    return app


def test_twenty_parallel_wrong_passwords_check_exactly_five(committed_app, monkeypatch):
    checked = 0
    lock = threading.Lock()
    real_check = User.check_password

    def counting_check(self, password):
        nonlocal checked
        with lock:
            checked += 1
        return real_check(self, password)

    monkeypatch.setattr(User, "check_password", counting_check)
    clients = [committed_app.test_client() for _ in range(PARALLEL)]
    for client in clients:
        client.csrf_token()  # each has its session cookie before the race starts
    start = threading.Barrier(PARALLEL)

    def attempt(client) -> int:
        start.wait()
        return login(client, EMAIL, "a wrong password").status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = sorted(pool.map(attempt, clients))

    assert checked == MAX_ACCOUNT_FAILURES
    assert statuses == [401] * MAX_ACCOUNT_FAILURES + [429] * (PARALLEL - MAX_ACCOUNT_FAILURES)
    # And the owner, with the right password, waits too: the account is locked for now.
    assert login(committed_app.test_client(), EMAIL, PASSWORD).status_code == 429


def test_one_totp_code_sent_twice_at_once_signs_in_once(committed_app):
    engine = make_engine(committed_app.config["TEST_URL"])
    with committed_app.app_context(), domain_session(engine) as db, db.begin():
        user = db.scalar(select(User).where(User.email == EMAIL))
        secret = two_factor.new_secret(user)
        user.totp_enabled = True
    engine.dispose()
    code = pyotp.TOTP(secret).now()
    clients = [committed_app.test_client() for _ in range(2)]
    for client in clients:
        assert login(client, EMAIL, PASSWORD).status_code == 302  # on to the second step
    start = threading.Barrier(2)

    def second_step(client) -> int:
        start.wait()
        return client.post_form("/login/2fa", {"code": code}).status_code

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(second_step, clients)) == [302, 401]
