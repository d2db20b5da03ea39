"""Sign-in, sign-out, login throttling and two-factor sign-in, through real requests."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from billing.db import utcnow
from billing.login_throttle import MAX_ACCOUNT_FAILURES as MAX_FAILURES
from billing.login_throttle import LoginFailure
from billing.users import User
from portal.auth import two_factor
from portal.auth.views import PENDING_KEY
from tests import factories
from tests.conftest import login

INCORRECT = b"Email or password is incorrect."
THROTTLED = b"Too many failed sign-ins for this account. Try again in"
WRONG_PASSWORD = "not the password at all"


def signed_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def failures_for(db, email: str) -> int:
    return db.scalar(select(func.count()).where(LoginFailure.email == email))


def enrol_totp(app, db, user: User) -> str:
    """Give ``user`` an enabled TOTP second factor; return the base32 secret."""
    # A request closes the shared session, detaching earlier objects: work on a loaded one.
    user = db.get(User, user.id)
    with app.app_context():
        secret = two_factor.new_secret(user)
    user.totp_enabled = True
    db.flush()
    return secret


def totp_secret(app, user: User) -> str:
    with app.app_context():
        secret = two_factor.secret_of(user)
    assert secret is not None
    return secret


def reload(db, user: User) -> User:
    db.expire_all()
    return db.get(User, user.id)


# --- signing in ------------------------------------------------------------------------------


def test_admin_sign_in_goes_to_admin_home(client, admin):
    response = login(client, admin.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert signed_in_user_id(client) == str(admin.id)
    assert client.get("/admin/").status_code == 200


def test_member_sign_in_goes_to_member_home(client, member):
    response = login(client, member.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) == str(member.id)
    assert client.get("/").status_code == 200


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_signed_in_user_visiting_login_goes_home(member_client):
    response = member_client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "email, password",
    [("known", WRONG_PASSWORD), ("nobody@example.com", factories.PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_bad_credentials_are_refused_alike(client, admin, email, password):
    response = login(client, admin.email if email == "known" else email, password)
    assert response.status_code == 401
    assert INCORRECT in response.data
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


def test_empty_form_is_422_and_not_counted_as_failure(client, db, admin):
    response = client.post_form("/login", {"email": admin.email, "password": ""})
    assert response.status_code == 422
    assert failures_for(db, admin.email) == 0


def test_inactive_user_is_refused(client, db):
    user = factories.MemberFactory(active=False)
    response = login(client, user.email)
    assert response.status_code == 401
    assert INCORRECT in response.data
    assert signed_in_user_id(client) is None


def test_inactive_user_password_is_still_checked(client, db, monkeypatch):
    """Same work for an inactive login as for any other: timing does not reveal it."""
    user = factories.MemberFactory(active=False)
    checked = []
    original = User.check_password
    monkeypatch.setattr(
        User, "check_password", lambda self, pw: checked.append(self.id) or original(self, pw)
    )
    assert login(client, user.email).status_code == 401
    assert checked == [user.id]


def test_deactivated_user_loses_their_session(member_client, db, member):
    assert member_client.get("/").status_code == 200
    reload(db, member).active = False
    db.flush()
    response = member_client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_email_is_case_insensitive(client, admin):
    response = login(client, "  " + admin.email.upper() + " ")
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(admin.id)


def test_password_is_case_sensitive(client, admin):
    response = login(client, admin.email, factories.PASSWORD.upper())
    assert response.status_code == 401


def test_markup_in_email_is_escaped(client):
    evil = '"><script>alert(1)</script>@example.com'
    response = login(client, evil, WRONG_PASSWORD)
    assert response.status_code == 401
    assert b"<script>alert(1)</script>" not in response.data
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.data


def test_post_without_csrf_token_is_refused(client, admin):
    response = client.post("/login", data={"email": admin.email, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert b"Form expired" in response.data
    assert signed_in_user_id(client) is None


def test_post_with_forged_csrf_token_is_refused(client, admin):
    client.csrf_token()  # a session with a real token exists
    response = client.post(
        "/login",
        data={"email": admin.email, "password": factories.PASSWORD, "csrf_token": "forged"},
    )
    assert response.status_code == 400
    assert b"Form expired" in response.data


def test_session_is_renewed_on_sign_in(client, admin):
    with client.session_transaction() as session:
        session["planted_by_attacker"] = "fixation"
    assert login(client, admin.email).status_code == 302
    with client.session_transaction() as session:
        assert "planted_by_attacker" not in session
        assert session["_user_id"] == str(admin.id)


def test_password_is_stored_as_argon2id(db):
    from billing.users import Role, create_user

    user = create_user(
        db, email="New@Example.com", name="New", password="long enough password", role=Role.ADMIN
    )
    assert user.email == "new@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "long enough password" not in user.password_hash
    assert user.check_password("long enough password")
    assert not user.check_password("long enough passworD")


# --- signing out -----------------------------------------------------------------------------


def test_logout_is_post_only(member_client):
    assert member_client.get("/logout").status_code == 405
    assert member_client.get("/").status_code == 200


def test_logout_needs_csrf(member_client):
    response = member_client.post("/logout")
    assert response.status_code == 400
    assert member_client.get("/").status_code == 200


def test_logout_ends_the_session(member_client):
    response = member_client.post_form("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert signed_in_user_id(member_client) is None
    response = member_client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- throttling ------------------------------------------------------------------------------


def test_account_is_throttled_after_five_failures(client, db, admin):
    for _ in range(MAX_FAILURES):
        assert login(client, admin.email, WRONG_PASSWORD).status_code == 401
    # The failures were committed although each answer was an error.
    assert failures_for(db, admin.email) == MAX_FAILURES
    response = login(client, admin.email)  # even the right password
    assert response.status_code == 429
    assert THROTTLED in response.data
    assert signed_in_user_id(client) is None


def test_throttle_is_per_account_across_addresses(app, db, admin):
    for n in range(MAX_FAILURES):
        attacker = app.test_client()
        attacker.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        assert login(attacker, admin.email.upper(), WRONG_PASSWORD).status_code == 401
    victim = app.test_client()
    victim.environ_base["REMOTE_ADDR"] = "192.0.2.200"
    assert login(victim, admin.email).status_code == 429


def test_fewer_than_five_failures_do_not_throttle(client, admin):
    for _ in range(MAX_FAILURES - 1):
        assert login(client, admin.email, WRONG_PASSWORD).status_code == 401
    assert login(client, admin.email).status_code == 302


def test_failures_older_than_a_minute_do_not_count(client, db, admin):
    old = utcnow() - timedelta(seconds=61)
    db.add_all(
        LoginFailure(email=admin.email, address="127.0.0.1", at=old) for _ in range(MAX_FAILURES)
    )
    db.flush()
    assert login(client, admin.email).status_code == 302


def test_recent_failures_inserted_directly_do_throttle(client, db, admin):
    recent = utcnow() - timedelta(seconds=30)
    db.add_all(
        LoginFailure(email=admin.email, address="192.0.2.1", at=recent) for _ in range(MAX_FAILURES)
    )
    db.flush()
    assert login(client, admin.email).status_code == 429


def test_success_clears_the_accounts_failures(client, db, admin):
    for _ in range(MAX_FAILURES - 1):
        login(client, admin.email, WRONG_PASSWORD)
    assert failures_for(db, admin.email) == MAX_FAILURES - 1
    assert login(client, admin.email).status_code == 302
    assert failures_for(db, admin.email) == 0
    client.post_form("/logout")
    # A fresh budget: four more failures still do not throttle.
    for _ in range(MAX_FAILURES - 1):
        assert login(client, admin.email, WRONG_PASSWORD).status_code == 401
    assert login(client, admin.email).status_code == 302


# --- two-factor sign-in ----------------------------------------------------------------------


@pytest.fixture
def totp_admin(app, db, admin):
    enrol_totp(app, db, admin)
    return admin


def test_totp_admin_must_enter_a_code(app, client, db, totp_admin):
    response = login(client, totp_admin.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/2fa"
    # Password alone does not sign in.
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302
    assert client.get("/login/2fa").status_code == 200

    code = pyotp.TOTP(totp_secret(app, totp_admin)).now()
    response = client.post_form("/login/2fa", {"code": code})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert signed_in_user_id(client) == str(totp_admin.id)
    with client.session_transaction() as session:
        assert PENDING_KEY not in session
    assert client.get("/admin/").status_code == 200


def test_totp_wrong_code_is_refused(app, client, db, totp_admin):
    login(client, totp_admin.email)
    valid = pyotp.TOTP(totp_secret(app, totp_admin)).now()
    wrong = f"{(int(valid) + 500_000) % 1_000_000:06d}"
    response = client.post_form("/login/2fa", {"code": wrong})
    assert response.status_code == 401
    assert b"That code is not valid, or was used already." in response.data
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


def test_totp_page_without_password_step_goes_to_login(client):
    response = client.get("/login/2fa")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    response = client.post_form("/login/2fa", {"code": "123456"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_totp_is_throttled(app, client, db, totp_admin):
    login(client, totp_admin.email)
    for _ in range(MAX_FAILURES):
        assert client.post_form("/login/2fa", {"code": "000000"}).status_code in (401,)
    code = pyotp.TOTP(totp_secret(app, totp_admin)).now()
    response = client.post_form("/login/2fa", {"code": code})
    assert response.status_code == 429
    assert THROTTLED in response.data
    assert signed_in_user_id(client) is None


def test_reentering_the_password_does_not_reset_the_totp_throttle(app, client, db, totp_admin):
    """Knowing the password must not buy a fresh budget of code guesses."""
    assert login(client, totp_admin.email).status_code == 302
    for _ in range(MAX_FAILURES - 1):
        assert client.post_form("/login/2fa", {"code": "000000"}).status_code == 401
    assert login(client, totp_admin.email).status_code == 302
    assert client.post_form("/login/2fa", {"code": "000000"}).status_code == 401
    code = pyotp.TOTP(totp_secret(app, totp_admin)).now()
    assert client.post_form("/login/2fa", {"code": code}).status_code == 429
    assert login(client, totp_admin.email).status_code == 429
    assert signed_in_user_id(client) is None


def test_totp_success_clears_failures(app, client, db, totp_admin):
    login(client, totp_admin.email)
    client.post_form("/login/2fa", {"code": "000000"})
    code = pyotp.TOTP(totp_secret(app, totp_admin)).now()
    assert client.post_form("/login/2fa", {"code": code}).status_code == 302
    assert failures_for(db, totp_admin.email) == 0


def test_totp_secret_is_stored_encrypted(app, db, totp_admin):
    stored = reload(db, totp_admin).totp_secret_encrypted
    secret = totp_secret(app, totp_admin)
    assert stored and secret
    assert secret not in stored
    assert stored != secret
    with app.app_context():
        from portal.extensions import secret_box

        assert secret_box().decrypt(stored) == secret
    pyotp.TOTP(secret).now()  # a valid base32 secret


# --- enrolment -------------------------------------------------------------------------------


def setup_secret(client, *, start: bool = True) -> str:
    if start:
        assert client.post_form("/account/2fa/start").status_code == 302
    response = client.get("/account/2fa")
    assert response.status_code == 200
    marker = b'data-testid="totp-secret"'
    start = response.data.index(marker)
    start = response.data.index(b">", start) + 1
    return response.data[start : response.data.index(b"<", start)].decode()


def test_enrolment_turns_totp_on(app, admin_client, db, admin):
    secret = setup_secret(admin_client)
    assert len(secret) >= 16
    user = reload(db, admin)
    assert not user.totp_enabled
    assert user.totp_secret_encrypted and secret not in user.totp_secret_encrypted

    response = admin_client.post_form("/account/2fa", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert b'data-testid="recovery-codes"' in response.data
    user = reload(db, admin)
    assert user.totp_enabled
    assert totp_secret(app, user) == secret

    # From now on the password is not enough.
    admin_client.post_form("/logout")
    assert login(admin_client, admin.email).headers["Location"] == "/login/2fa"
    assert signed_in_user_id(admin_client) is None


def test_enrolment_with_a_wrong_code_stays_off(admin_client, db, admin):
    secret = setup_secret(admin_client)
    valid = pyotp.TOTP(secret).now()
    wrong = f"{(int(valid) + 500_000) % 1_000_000:06d}"
    response = admin_client.post_form("/account/2fa", {"code": wrong})
    assert response.status_code == 422
    assert b"That code is not valid" in response.data
    assert not reload(db, admin).totp_enabled
    # The same secret is still the one being enrolled, so the next try can succeed.
    assert setup_secret(admin_client, start=False) == secret
    response = admin_client.post_form("/account/2fa", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert reload(db, admin).totp_enabled


def test_enrolled_admin_does_not_see_the_secret_again(app, admin_client, db, admin):
    secret = enrol_totp(app, db, admin)
    response = admin_client.get("/account/2fa")
    assert response.status_code == 200
    assert secret.encode() not in response.data
    assert b"totp-secret" not in response.data


def test_members_have_no_2fa_pages(member_client):
    assert member_client.get("/account/2fa").status_code == 404
    assert member_client.post_form("/account/2fa", {"code": "123456"}).status_code == 404
    assert member_client.post_form("/account/2fa/disable", {"password": "x"}).status_code == 404


def test_anonymous_2fa_setup_goes_to_login(client):
    response = client.get("/account/2fa")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_disabling_totp_needs_the_password(app, admin_client, db, admin):
    enrol_totp(app, db, admin)
    response = admin_client.post_form("/account/2fa/disable", {"password": WRONG_PASSWORD})
    assert response.status_code == 302
    assert reload(db, admin).totp_enabled
    response = admin_client.post_form("/account/2fa/disable", {})
    assert reload(db, admin).totp_enabled

    response = admin_client.post_form("/account/2fa/disable", {"password": factories.PASSWORD})
    assert response.status_code == 302
    user = reload(db, admin)
    assert not user.totp_enabled
    assert user.totp_secret_encrypted is None


class TestRequiredAdmin2FA:
    @pytest.fixture
    def app_settings(self):
        return {"REQUIRE_ADMIN_2FA": True}

    def test_unenrolled_admin_is_sent_to_setup_from_every_admin_page(self, app, admin_client):
        admin_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
        assert admin_rules
        for rule in admin_rules:
            url = rule.build({name: 1 for name in rule.arguments})[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "GET":
                    response = admin_client.get(url)
                else:
                    response = admin_client.post_form(url, {})
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"] == "/account/2fa", (method, url)
        # Member pages send the admin to the admin home, which sends them on to setup.
        assert admin_client.get("/", follow_redirects=True).request.path == "/account/2fa"
        response = admin_client.get("/account/2fa")
        assert response.status_code == 200
        assert b"requires two-factor sign-in" in response.data

    def test_enrolled_admin_gets_in(self, app, client, db, admin):
        secret = enrol_totp(app, db, admin)
        login(client, admin.email)
        client.post_form("/login/2fa", {"code": pyotp.TOTP(secret).now()})
        assert client.get("/admin/").status_code == 200

    def test_totp_cannot_be_disabled(self, app, admin_client, db, admin):
        enrol_totp(app, db, admin)
        response = admin_client.post_form("/account/2fa/disable", {"password": factories.PASSWORD})
        assert response.status_code == 302
        assert response.headers["Location"] == "/account/2fa"
        assert reload(db, admin).totp_enabled
        page = admin_client.get("/account/2fa")
        assert b"Turn two-factor sign-in off" not in page.data
