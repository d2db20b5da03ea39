"""Twenty wrong passwords for one account at once, each request on its own connection and
committing for real: exactly MAX_ACCOUNT_FAILURES passwords are checked, the rest wait.

Without the limiter's lock, PostgreSQL lets every request count the failures before any
has recorded its own (18 of 20 were checked before the lock). SQLite's single writer
serialises the requests anyway; the test runs on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing.login_throttle import MAX_ACCOUNT_FAILURES
from billing.users import Role, User, create_user
from portal import migrations
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
    return make_test_app(url)


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
