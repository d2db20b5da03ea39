"""A session cookie captured earlier stops working when the login's sessions are ended:
sign-out, a password change or reset, deactivation. Replayed in another client, it is
refused (sent to sign in, no data)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.logins import end_sessions
from billing.users import User
from portal.cli import reset_password
from tests import factories
from tests.conftest import login
from tests.factories import make_invoice


def capture(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def assert_refused(thief, number: str) -> None:
    response = thief.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert number.encode() not in thief.get("/invoices", follow_redirects=True).data


def test_the_captured_cookie_works_until_its_sessions_end(app, db, member, member_client):
    invoice = make_invoice(db, member.customer)
    cookie = capture(member_client)
    thief = replay(app, cookie)
    assert invoice.number.encode() in thief.get("/invoices").data  # the risk being removed
    member_client.post_form("/logout")
    assert_refused(replay(app, cookie), invoice.number)


def test_sign_out_ends_the_other_devices_too(app, db, member):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, member.email)
    login(laptop, member.email)
    phone.post_form("/logout")
    assert laptop.get("/").status_code == 302


def test_a_password_change_ends_other_sessions_but_keeps_this_one(app, db, member, member_client):
    invoice = make_invoice(db, member.customer)
    cookie = capture(member_client)
    response = member_client.post_form(
        "/account/password",
        {
            "current": factories.PASSWORD,
            "new": "a brand new password",
            "confirm": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert member_client.get("/").status_code == 200
    assert_refused(replay(app, cookie), invoice.number)


def test_a_password_reset_ends_sessions(app, db, member, member_client):
    cookie = capture(member_client)
    runner = app.test_cli_runner()
    result = runner.invoke(
        reset_password, ["--email", member.email, "--password", "reset by the operator"]
    )
    assert result.exit_code == 0, result.output
    assert "its sessions are signed out" in result.output
    assert replay(app, cookie).get("/").status_code == 302


def test_deactivation_ends_sessions(app, db, member, member_client):
    cookie = capture(member_client)
    user = db.get(User, member.id)
    user.active = False
    end_sessions(db, user)
    assert replay(app, cookie).get("/").status_code == 302
    assert member_client.get("/").status_code == 302


def test_ending_sessions_is_one_atomic_increment(db, member):
    user = db.get(User, member.id)
    before = user.session_version
    end_sessions(db, user)
    end_sessions(db, user)
    assert user.session_version == before + 2
    stored = db.scalar(select(User.session_version).where(User.id == member.id))
    assert stored == before + 2


def test_a_forwarded_for_header_is_not_the_session_address(app, db, member):
    """Strong session protection hashes the client address; a client's own
    X-Forwarded-For must not be it when no proxy is trusted."""
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.1"
    login(client, member.email)
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    assert client.get("/").status_code == 200  # same real address: still signed in
    moved = replay(app, capture(client))
    moved.environ_base["REMOTE_ADDR"] = "203.0.113.50"
    assert moved.get("/").status_code == 302  # another real address: refused


class TestBehindOneTrustedProxy:
    @pytest.fixture
    def app_settings(self):
        return {"TRUSTED_PROXY_COUNT": 1}

    def test_the_forwarded_address_is_the_session_address(self, app, db, member):
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.1"
        login(client, member.email)
        assert client.get("/").status_code == 200
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
        assert client.get("/").status_code == 302
