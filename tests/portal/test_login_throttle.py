"""The sign-in limiter's two budgets, with the app's clock frozen (no sleeping)."""

from __future__ import annotations

import pytest

from billing.login_throttle import MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES
from tests.conftest import login
from tests.portal.clocks import freeze

WRONG = "not the password at all"


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def clock(app):
    return freeze(app)


def spray(app, address: str, count: int) -> None:
    """``count`` wrong passwords for different (unknown) accounts from one address."""
    attacker = client_at(app, address)
    for n in range(count):
        assert login(attacker, f"guess{n}@example.com", WRONG).status_code == 401


def test_a_throttled_address_still_lets_the_right_password_in(app, clock, admin):
    spray(app, "203.0.113.7", MAX_ADDRESS_FAILURES)
    # The address has used its budget, but this account has no recent failures.
    assert login(client_at(app, "203.0.113.7"), admin.email).status_code == 302


def test_a_throttled_address_cannot_guess_twice_at_one_account(app, clock, admin):
    spray(app, "203.0.113.7", MAX_ADDRESS_FAILURES)
    attacker = client_at(app, "203.0.113.7")
    assert login(attacker, admin.email, WRONG).status_code == 401  # one guess
    response = login(attacker, admin.email)  # then even the right password waits
    assert response.status_code == 429
    assert b"Too many failed sign-ins from your network. Try again in 60 seconds." in (
        response.data
    )
    # The account's owner elsewhere is not locked out by the address's failures.
    assert login(client_at(app, "192.0.2.10"), admin.email).status_code == 302


def test_a_locked_account_is_told_how_long_to_wait(app, clock, admin):
    attacker = client_at(app, "198.51.100.1")
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert login(attacker, admin.email, WRONG).status_code == 401
        clock.advance(seconds=5)
    # The first failure was 25 seconds ago: it leaves the one-minute window in 35.
    response = login(client_at(app, "192.0.2.10"), admin.email)
    assert response.status_code == 429
    assert b"Too many failed sign-ins for this account. Try again in 35 seconds." in (response.data)
    assert response.headers["Retry-After"] == "35"
    clock.advance(seconds=35)
    assert login(client_at(app, "192.0.2.10"), admin.email).status_code == 302


def test_the_address_budget_counts_only_the_window(app, clock, admin):
    spray(app, "203.0.113.7", MAX_ADDRESS_FAILURES)
    attacker = client_at(app, "203.0.113.7")
    assert login(attacker, admin.email, WRONG).status_code == 401
    clock.advance(seconds=61)
    assert login(attacker, admin.email).status_code == 302


class TestWithoutATrustedProxy:
    def test_a_forwarded_for_header_does_not_change_the_address(self, app, clock, admin):
        spray(app, "203.0.113.7", MAX_ADDRESS_FAILURES)
        attacker = client_at(app, "203.0.113.7")
        assert login(attacker, admin.email, WRONG).status_code == 401
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.99"
        assert login(attacker, admin.email).status_code == 429


class TestBehindOneTrustedProxy:
    @pytest.fixture
    def app_settings(self):
        return {"TRUSTED_PROXY_COUNT": 1}

    def test_each_client_behind_the_proxy_has_its_own_budget(self, app, clock, admin):
        proxy = "10.0.0.2"
        attacker = client_at(app, proxy)
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
        for n in range(MAX_ADDRESS_FAILURES):
            assert login(attacker, f"guess{n}@example.com", WRONG).status_code == 401
        assert login(attacker, admin.email, WRONG).status_code == 401
        assert login(attacker, admin.email).status_code == 429
        member = client_at(app, proxy)
        member.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.44"
        assert login(member, admin.email).status_code == 302
