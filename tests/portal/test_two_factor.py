"""Two-factor sign-in: a code works once, GET changes nothing, QR code, recovery codes, and
the password check on turning it off is throttled and audited. The app's clock is frozen."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from billing.login_throttle import MAX_ACCOUNT_FAILURES
from billing.recovery_codes import RecoveryCode
from billing.users import User
from tests import factories
from tests.conftest import login
from tests.portal.clocks import freeze
from tests.portal.test_auth import enrol_totp, reload, signed_in_user_id, totp_secret
from xero.models import AuditEntry

WRONG = "not the password at all"


@pytest.fixture
def clock(app):
    return freeze(app)


@pytest.fixture
def totp_admin(app, db, admin):
    enrol_totp(app, db, admin)
    return admin


def code_at(app, user, clock) -> str:
    return pyotp.TOTP(totp_secret(app, user)).at(clock())


def test_a_code_signs_in_once(app, db, clock, totp_admin):
    code = code_at(app, totp_admin, clock)
    first = app.test_client()
    login(first, totp_admin.email)
    assert first.post_form("/login/2fa", {"code": code}).status_code == 302
    assert signed_in_user_id(first) == str(totp_admin.id)

    # The same code again, in the same 30 seconds, from someone who saw it: refused.
    second = app.test_client()
    login(second, totp_admin.email)
    response = second.post_form("/login/2fa", {"code": code})
    assert response.status_code == 401
    assert b"That code is not valid, or was used already." in response.data
    assert signed_in_user_id(second) is None


def test_an_earlier_steps_code_is_refused_after_a_later_one(app, db, clock, totp_admin):
    secret = totp_secret(app, totp_admin)
    earlier = pyotp.TOTP(secret).at(clock())
    clock.advance(seconds=30)
    client = app.test_client()
    login(client, totp_admin.email)
    assert (
        client.post_form("/login/2fa", {"code": pyotp.TOTP(secret).at(clock())}).status_code == 302
    )
    client.post_form("/logout")
    login(client, totp_admin.email)
    # Still inside the one-step tolerance, but older than the step already used.
    assert client.post_form("/login/2fa", {"code": earlier}).status_code == 401


def test_the_enrolment_code_cannot_sign_in(app, admin_client, db, clock, admin):
    assert admin_client.post_form("/account/2fa/start").status_code == 302
    secret = totp_secret(app, reload(db, admin))
    code = pyotp.TOTP(secret).at(clock())
    assert admin_client.post_form("/account/2fa", {"code": code}).status_code == 200
    other = app.test_client()
    login(other, admin.email)
    assert other.post_form("/login/2fa", {"code": code}).status_code == 401


def test_get_changes_nothing(app, admin_client, db, admin):
    page = admin_client.get("/account/2fa?new=1")
    assert page.status_code == 200
    assert reload(db, admin).totp_secret_encrypted is None  # no secret made by a GET
    admin_client.post_form("/account/2fa/start")
    stored = reload(db, admin).totp_secret_encrypted
    admin_client.get("/account/2fa?new=1")
    admin_client.get("/account/2fa")
    assert reload(db, admin).totp_secret_encrypted == stored


def test_starting_again_needs_a_post_with_csrf(app, admin_client, db, admin):
    admin_client.post_form("/account/2fa/start")
    stored = reload(db, admin).totp_secret_encrypted
    assert admin_client.post("/account/2fa/start").status_code == 400  # no CSRF token
    assert reload(db, admin).totp_secret_encrypted == stored
    admin_client.post_form("/account/2fa/start")
    assert reload(db, admin).totp_secret_encrypted != stored


def test_enrolment_shows_a_qr_code_of_the_link(app, admin_client, db, admin):
    admin_client.post_form("/account/2fa/start")
    page = admin_client.get("/account/2fa").data
    start = page.index(b'data-testid="totp-qr"')
    svg = page[start : page.index(b"</svg>", start)]
    assert b"<svg" in svg and b"<path" in svg
    assert b"<script" not in svg


def enable(app, admin_client, db, admin, clock) -> list[str]:
    admin_client.post_form("/account/2fa/start")
    code = pyotp.TOTP(totp_secret(app, reload(db, admin))).at(clock())
    response = admin_client.post_form("/account/2fa", {"code": code})
    assert response.status_code == 200
    page = response.data.decode()
    start = page.index('data-testid="recovery-codes"')
    return [
        part.split("</code>")[0] for part in page[start:].split("<code>")[1:] if "</code>" in part
    ]


def test_ten_recovery_codes_shown_once_and_stored_hashed(app, admin_client, db, admin, clock):
    codes = enable(app, admin_client, db, admin, clock)
    assert len(codes) == 10 == len(set(codes))
    stored = db.scalars(select(RecoveryCode.digest).where(RecoveryCode.user_id == admin.id)).all()
    assert len(stored) == 10
    for code in codes:
        assert all(code.replace("-", "") not in digest for digest in stored)
    # The account page says how many are left and never shows them again.
    page = admin_client.get("/account/2fa").data
    assert b"10 of 10 recovery codes left." in page
    assert codes[0].encode() not in page


def test_a_recovery_code_signs_in_once(app, admin_client, db, admin, clock):
    codes = enable(app, admin_client, db, admin, clock)
    phone_lost = app.test_client()
    login(phone_lost, admin.email)
    assert phone_lost.post_form("/login/2fa", {"code": codes[3].upper()}).status_code == 302
    assert signed_in_user_id(phone_lost) == str(admin.id)
    assert b"9 of 10 recovery codes left." in phone_lost.get("/account/2fa").data
    again = app.test_client()
    login(again, admin.email)
    assert again.post_form("/login/2fa", {"code": codes[3]}).status_code == 401
    assert signed_in_user_id(again) is None


def test_new_recovery_codes_need_the_password_and_replace_the_old(
    app, admin_client, db, admin, clock
):
    old = enable(app, admin_client, db, admin, clock)
    refused = admin_client.post_form("/account/2fa/recovery-codes", {"password": WRONG})
    assert refused.status_code == 302
    assert admin_client.get("/account/2fa").status_code == 200
    response = admin_client.post_form(
        "/account/2fa/recovery-codes", {"password": factories.PASSWORD}
    )
    assert response.status_code == 200
    assert old[0].encode() not in response.data
    other = app.test_client()
    login(other, admin.email)
    assert other.post_form("/login/2fa", {"code": old[0]}).status_code == 401


def test_turning_off_is_throttled_and_audited(app, admin_client, db, admin, clock):
    enrol_totp(app, db, admin)
    for _ in range(MAX_ACCOUNT_FAILURES):
        response = admin_client.post_form(
            "/account/2fa/disable", {"password": WRONG}, follow_redirects=True
        )
        assert b"Password incorrect; nothing was changed." in response.data
    # Now even the right password waits, and the answer says for how long.
    response = admin_client.post_form(
        "/account/2fa/disable", {"password": factories.PASSWORD}, follow_redirects=True
    )
    assert b"Too many failed sign-ins for this account. Try again in 60 seconds." in response.data
    assert reload(db, admin).totp_enabled
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.user_id == admin.id)).all()
    assert actions.count("2fa.disable.refused") == MAX_ACCOUNT_FAILURES
    assert actions.count("2fa.disable.throttled") == 1

    clock.advance(seconds=61)
    admin_client.post_form("/account/2fa/disable", {"password": factories.PASSWORD})
    user = reload(db, admin)
    assert not user.totp_enabled
    assert "2fa.disabled" in db.scalars(select(AuditEntry.action)).all()
    assert db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == admin.id)).all() == []


def test_a_password_change_between_the_two_steps_ends_the_pending_sign_in(
    app, db, clock, totp_admin
):
    client = app.test_client()
    login(client, totp_admin.email)
    user = db.get(User, totp_admin.id)
    user.session_version += 1  # what billing.logins.end_sessions does
    db.flush()
    response = client.post_form("/login/2fa", {"code": code_at(app, totp_admin, clock)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert signed_in_user_id(client) is None
