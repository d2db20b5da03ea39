"""Changing your own password: members replace the one an admin typed, admins theirs."""

from __future__ import annotations

from flask import flash, redirect, render_template
from flask_login import current_user, login_required

from billing import login_throttle
from billing.errors import BillingError
from billing.logins import change_password
from billing.users import MIN_PASSWORD_LENGTH
from portal.auth import audit, bp
from portal.auth.forms import ChangePasswordForm
from portal.auth.views import count_failure, home_for, throttle_verdict
from portal.db import get_db, rollback_request
from portal.login_sessions import renew
from portal.views import form_status

TEMPLATE = "auth/change_password.html"


def _page(form: ChangePasswordForm) -> str:
    return render_template(TEMPLATE, form=form, min_length=MIN_PASSWORD_LENGTH)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_own_password():
    user = current_user._get_current_object()
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form), form_status(form)
    verdict = throttle_verdict(user.email)
    if not verdict.allowed:
        form.form_errors.append(verdict.message)
        return _page(form), 429
    if not user.check_password(form.current.data):
        # The failure is counted and audited although the answer is an error.
        count_failure(user.email)
        audit.record(user, "password.change_refused", "wrong current password")
        form.current.errors = ["That is not your current password."]
        return _page(form), 422
    try:
        change_password(get_db(), user, form.new.data)
    except BillingError as error:
        rollback_request()
        form.new.errors = [str(error)]
        return _page(form), 422
    login_throttle.clear_failures(get_db(), user.email)
    audit.record(user, "password.changed")
    renew(user)  # this browser stays signed in; every other session ends
    flash("Password changed. Other devices signed in as you are signed out.", "success")
    return redirect(home_for(user))
