"""A customer's member logins: deactivate, reactivate, make an invitation link.

Deactivating ends the login's sessions at once (billing.logins); each change is audited.
The invitation link is shown to the admin once, to pass on (e-mail comes later)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from billing.customers import get_customer
from billing.errors import BillingError
from billing.logins import set_active
from billing.users import User
from portal import invitations
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.auth import audit
from portal.db import get_db
from portal.views import found

MEMBER_URL = "/customers/<int:customer_id>/members/<int:member_id>"


def _member(customer_id: int, member_id: int) -> User:
    customer = found(get_customer, customer_id)
    member = get_db().get(User, member_id)
    if member is None or member.customer_id != customer.id:
        abort(404)
    return member


def _back(member: User) -> str:
    return url_for("admin.customer", customer_id=member.customer_id)


@bp.route(f"{MEMBER_URL}/deactivate", methods=["GET", "POST"])
def deactivate_member(customer_id: int, member_id: int):
    member = _member(customer_id, member_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            set_active(get_db(), member, False, by=current_user._get_current_object())
        except BillingError as error:
            flash(str(error), "error")
            return redirect(_back(member))
        audit.record(current_user, "member.deactivated", member.email)
        flash(f"{member.email} can no longer sign in; their sessions are ended.", "success")
        return redirect(_back(member))
    return render_template(
        "admin/confirm.html",
        form=form,
        title="Deactivate this login?",
        message=f"{member.name} ({member.email}) will be signed out everywhere and unable to "
        "sign in until the login is reactivated. Their invoices and payments stay.",
        action=request.path,
        button="Deactivate login",
        back=_back(member),
    )


@bp.post(f"{MEMBER_URL}/reactivate")
def reactivate_member(customer_id: int, member_id: int):
    member = _member(customer_id, member_id)
    if ConfirmForm().validate_on_submit():
        set_active(get_db(), member, True, by=current_user._get_current_object())
        audit.record(current_user, "member.reactivated", member.email)
        flash(f"{member.email} can sign in again.", "success")
    return redirect(_back(member))


@bp.post(f"{MEMBER_URL}/invitation")
def invite_member(customer_id: int, member_id: int):
    member = _member(customer_id, member_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(_back(member))
    if not member.active:
        flash("Reactivate the login before inviting them.", "error")
        return redirect(_back(member))
    audit.record(current_user, "member.invitation", member.email)
    return render_template(
        "admin/invitation_link.html", member=member, link=invitations.link_for(member)
    )
