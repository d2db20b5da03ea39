"""Signing in (password, then a second factor for admins who set one up) and out."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, logout_user

from billing import login_throttle, recovery_codes
from billing.logins import end_sessions
from billing.users import User, find_user_by_email, normalise_email, verify_dummy_password
from portal.auth import bp, two_factor
from portal.auth.forms import LoginForm, SecondFactorForm
from portal.clock import now
from portal.db import get_db
from portal.login_sessions import client_address, sign_in
from portal.views import form_status

PENDING_KEY = "pending_2fa_user_id"
#: The login's session version when the password was right: a pending second step dies
#: with the login's sessions too (a password change between the two steps).
PENDING_VERSION_KEY = "pending_2fa_version"


def home_for(user) -> str:
    return url_for("admin.home") if user.is_admin else url_for("member.home")


def throttle_verdict(email: str) -> login_throttle.Verdict:
    """Ask the limiter before checking a password or code for ``email``."""
    return login_throttle.check(get_db(), email, client_address(), now())


def count_failure(email: str) -> None:
    # Counted although the answer is an error: the caller must not rollback_request().
    login_throttle.record_failure(get_db(), email, client_address(), now())


def _refuse(form, template: str, email: str, message: str):
    count_failure(email)
    form.form_errors.append(message)
    return render_template(template, form=form), 401


def _throttled(form, template: str, verdict: login_throttle.Verdict):
    form.form_errors.append(verdict.message)
    return render_template(template, form=form), 429, {"Retry-After": str(verdict.wait_seconds)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), form_status(form)
    db = get_db()
    email = normalise_email(form.email.data)
    verdict = throttle_verdict(email)
    if not verdict.allowed:
        return _throttled(form, "auth/login.html", verdict)
    user = find_user_by_email(db, email)
    # The password is checked even for an inactive login, so timing tells nothing apart.
    if user is None:
        verify_dummy_password()
        password_ok = False
    else:
        password_ok = user.check_password(form.password.data)
    if user is None or not user.active or not password_ok:
        return _refuse(form, "auth/login.html", email, "Email or password is incorrect.")
    # A fresh session on sign-in stops session fixation.
    session.clear()
    if user.is_admin and user.totp_enabled:
        # Failures are cleared only once the code is right too: clearing them here would
        # give anyone who knows the password a fresh budget of code guesses every minute.
        session[PENDING_KEY] = user.id
        session[PENDING_VERSION_KEY] = user.session_version
        return redirect(url_for("auth.two_factor_login"))
    login_throttle.clear_failures(db, email)
    sign_in(user)
    return redirect(home_for(user))


def _pending_user() -> User | None:
    user_id = session.get(PENDING_KEY)
    user = get_db().get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    if session.get(PENDING_VERSION_KEY) != user.session_version:
        return None
    return user


@bp.route("/login/2fa", methods=["GET", "POST"])
def two_factor_login():
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    template = "auth/two_factor_login.html"
    if not form.validate_on_submit():
        return render_template(template, form=form), form_status(form)
    verdict = throttle_verdict(user.email)
    if not verdict.allowed:
        return _throttled(form, template, verdict)
    db = get_db()
    code = form.code.data.strip()
    if code.isdigit():
        accepted = two_factor.accept(db, user, code, now())
    else:
        accepted = recovery_codes.use_code(db, user.id, code, now())
        if accepted:
            left = recovery_codes.remaining(db, user.id)
            flash(f"Recovery code used; {left} left. Make new ones on your account page.", "info")
    if not accepted:
        return _refuse(form, template, user.email, "That code is not valid, or was used already.")
    login_throttle.clear_failures(db, user.email)
    session.clear()
    sign_in(user)
    return redirect(home_for(user))


@bp.post("/logout")
@login_required
def logout():
    # Ends this login's sessions everywhere: a cookie copied before sign-out is worthless.
    end_sessions(get_db(), current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out (on every device).", "info")
    return redirect(url_for("auth.login"))


from portal.auth import enrolment, password  # noqa: E402,F401 - registers their routes
