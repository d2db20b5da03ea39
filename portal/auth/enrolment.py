"""An admin's two-factor settings: enrol (QR code), recovery codes, turn off.

GET never changes anything: starting enrolment (a new secret) and making new recovery codes
are POSTs. Everything that takes the password is throttled like sign-in and audited.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from billing import login_throttle, recovery_codes
from portal.auth import audit, bp, two_factor
from portal.auth.forms import PasswordConfirmForm, StartTotpForm, TotpForm
from portal.auth.views import count_failure, throttle_verdict
from portal.clock import now
from portal.db import get_db
from portal.views import form_status


def _admin():
    if not current_user.is_admin:
        abort(404)
    return current_user._get_current_object()


def _enrolled_page(**context):
    return render_template(
        "auth/two_factor_setup.html",
        password_form=PasswordConfirmForm(),
        codes_left=recovery_codes.remaining(get_db(), current_user.id),
        **context,
    )


def _enrolment_page(form: TotpForm, secret: str | None):
    context = {}
    if secret is not None:
        uri = two_factor.provisioning_uri(current_user, secret)
        context = {"secret": secret, "uri": uri, "qr_svg": two_factor.qr_svg(uri)}
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        start_form=StartTotpForm(),
        required=current_app.config["REQUIRE_ADMIN_2FA"],
        **context,
    )


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    user = _admin()
    if user.totp_enabled:
        return _enrolled_page()
    form = TotpForm()
    secret = two_factor.secret_of(user)
    if not form.validate_on_submit() or secret is None:
        return _enrolment_page(form, secret), form_status(form)
    if not two_factor.accept(get_db(), user, form.code.data, now()):
        form.code.errors = ["That code is not valid. Check your phone's clock and try again."]
        # The secret being enrolled survives the failed attempt: 422, no rollback_request().
        return _enrolment_page(form, secret), 422
    user.totp_enabled = True
    return _new_recovery_codes(user, "2fa.enabled", "Two-factor sign-in is on.")


def _new_recovery_codes(user, action: str, message: str):
    """Replace the admin's recovery codes and show the new ones, this once."""
    codes = recovery_codes.replace_codes(get_db(), user.id)
    audit.record(user, action)
    flash(message, "success")
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/2fa/start")
@login_required
def two_factor_start():
    user = _admin()
    if not StartTotpForm().validate_on_submit() or user.totp_enabled:
        return redirect(url_for("auth.two_factor_setup"))
    two_factor.new_secret(user)
    return redirect(url_for("auth.two_factor_setup"))


def _password_confirmed(form: PasswordConfirmForm, action: str) -> bool:
    """Check the admin's password under the sign-in limiter; flash why not."""
    user = current_user._get_current_object()
    if not form.validate_on_submit():
        flash(form.password.errors[0] if form.password.errors else "Enter your password.", "error")
        return False
    verdict = throttle_verdict(user.email)
    if not verdict.allowed:
        audit.record(user, f"{action}.throttled")
        flash(verdict.message, "error")
        return False
    if not user.check_password(form.password.data):
        count_failure(user.email)
        audit.record(user, f"{action}.refused", "wrong password")
        flash("Password incorrect; nothing was changed.", "error")
        return False
    login_throttle.clear_failures(get_db(), user.email)
    return True


@bp.post("/account/2fa/recovery-codes")
@login_required
def two_factor_recovery_codes():
    user = _admin()
    if not user.totp_enabled:
        return redirect(url_for("auth.two_factor_setup"))
    if not _password_confirmed(PasswordConfirmForm(), "2fa.recovery_codes"):
        return redirect(url_for("auth.two_factor_setup"))
    return _new_recovery_codes(
        user, "2fa.recovery_codes", "New recovery codes made; the old ones no longer work."
    )


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable():
    user = _admin()
    if current_app.config["REQUIRE_ADMIN_2FA"]:
        flash("Two-factor sign-in is required for admins here and cannot be turned off.", "error")
        return redirect(url_for("auth.two_factor_setup"))
    if not _password_confirmed(PasswordConfirmForm(), "2fa.disable"):
        return redirect(url_for("auth.two_factor_setup"))
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    recovery_codes.drop_codes(get_db(), user.id)
    audit.record(user, "2fa.disabled")
    flash("Two-factor sign-in is off.", "info")
    return redirect(url_for("admin.home"))
