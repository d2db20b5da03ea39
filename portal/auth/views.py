from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from billing import login_throttle
from billing.users import find_user_by_email, normalise_email, verify_dummy_password
from portal.auth import bp, two_factor
from portal.auth.forms import DisableTotpForm, LoginForm, TotpForm
from portal.db import get_db
from portal.views import form_status

THROTTLED = "Too many failed sign-ins. Wait a minute, then try again."
PENDING_KEY = "pending_2fa_user_id"


def _home_for(user) -> str:
    return url_for("admin.home") if user.is_admin else url_for("member.home")


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _refuse(form, template: str, email: str, message: str):
    db = get_db()
    # The failure is counted although the answer is an error: no rollback_request().
    login_throttle.record_failure(db, email, _client_address())
    form.form_errors.append(message)
    return render_template(template, form=form), 401


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), form_status(form)
    db = get_db()
    email = normalise_email(form.email.data)
    if login_throttle.is_throttled(db, email, _client_address()):
        form.form_errors.append(THROTTLED)
        return render_template("auth/login.html", form=form), 429
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
        return redirect(url_for("auth.two_factor_login"))
    login_throttle.clear_failures(db, email)
    login_user(user)
    return redirect(_home_for(user))


@bp.route("/login/2fa", methods=["GET", "POST"])
def two_factor_login():
    from billing.users import User

    user_id = session.get(PENDING_KEY)
    user = get_db().get(User, user_id) if user_id else None
    if user is None:
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if not form.validate_on_submit():
        return render_template("auth/two_factor_login.html", form=form), form_status(form)
    if login_throttle.is_throttled(get_db(), user.email, _client_address()):
        form.form_errors.append(THROTTLED)
        return render_template("auth/two_factor_login.html", form=form), 429
    if not two_factor.verify(user, form.code.data):
        return _refuse(form, "auth/two_factor_login.html", user.email, "That code is not valid.")
    login_throttle.clear_failures(get_db(), user.email)
    session.pop(PENDING_KEY, None)
    login_user(user)
    return redirect(_home_for(user))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    if not current_user.is_admin:
        abort(404)
    form = TotpForm()
    if current_user.totp_enabled:
        return render_template(
            "auth/two_factor_setup.html", form=form, disable_form=DisableTotpForm()
        )
    secret = two_factor.secret_of(current_user)
    if secret is None or request.method == "GET" and request.args.get("new"):
        secret = two_factor.new_secret(current_user)
    if form.validate_on_submit():
        if two_factor.verify(current_user, form.code.data):
            current_user.totp_enabled = True
            flash("Two-factor sign-in is on.", "success")
            return redirect(url_for("admin.home"))
        form.code.errors = ["That code is not valid. Check your phone's clock and try again."]
        # The secret being enrolled survives the failed attempt: 422, no rollback_request().
        return _setup_page(form, secret), 422
    return _setup_page(form, secret), form_status(form)


def _setup_page(form, secret: str):
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        secret=secret,
        uri=two_factor.provisioning_uri(current_user, secret),
        required=current_app.config["REQUIRE_ADMIN_2FA"],
    )


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable():
    if not current_user.is_admin:
        abort(404)
    if current_app.config["REQUIRE_ADMIN_2FA"]:
        flash("Two-factor sign-in is required for admins here and cannot be turned off.", "error")
        return redirect(url_for("auth.two_factor_setup"))
    form = DisableTotpForm()
    if not form.validate_on_submit() or not current_user.check_password(form.password.data):
        flash("Password incorrect; two-factor sign-in stays on.", "error")
        return redirect(url_for("auth.two_factor_setup"))
    current_user.totp_enabled = False
    current_user.totp_secret_encrypted = None
    flash("Two-factor sign-in is off.", "info")
    return redirect(url_for("admin.home"))
