"""Members (and admins) change their own password at /account/password."""

from __future__ import annotations

from sqlalchemy import select

from billing.login_throttle import MAX_ACCOUNT_FAILURES
from billing.users import User
from tests import factories
from tests.conftest import login
from xero.models import AuditEntry

NEW = "a brand new password"


def change(client, current: str, new: str = NEW, confirm: str | None = None):
    return client.post_form(
        "/account/password", {"current": current, "new": new, "confirm": confirm or new}
    )


def test_a_member_replaces_the_password_an_admin_typed(app, db, member, member_client):
    assert member_client.get("/account/password").status_code == 200
    assert change(member_client, factories.PASSWORD).status_code == 302
    assert login(app.test_client(), member.email).status_code == 401
    assert login(app.test_client(), member.email, NEW).status_code == 302
    assert "password.changed" in db.scalars(select(AuditEntry.action)).all()


def test_bad_answers_change_nothing(app, db, member, member_client):
    hash_before = db.get(User, member.id).password_hash
    assert change(member_client, "wrong current password").status_code == 422
    assert change(member_client, factories.PASSWORD, "short").status_code == 422
    response = change(member_client, factories.PASSWORD, NEW, "something else entirely")
    assert response.status_code == 422
    assert b"The two new passwords differ." in response.data
    db.expire_all()
    assert db.get(User, member.id).password_hash == hash_before


def test_wrong_current_passwords_are_throttled(app, db, member, member_client):
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert change(member_client, "wrong current password").status_code == 422
    response = change(member_client, factories.PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-ins for this account." in response.data
    refused = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "password.change_refused")
    ).all()
    assert len(refused) == MAX_ACCOUNT_FAILURES


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
