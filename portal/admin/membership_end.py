"""Ending a membership from the customer page: the plan's notice and minimum term shown
and kept, unless the admin gives the reason for an exception (audited)."""

from __future__ import annotations

from functools import partial

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from billing.customers import get_customer
from billing.errors import BillingError
from billing.recurring.memberships import end_membership, end_terms, get_membership
from billing.recurring.periods import Proration
from portal.admin import bp
from portal.admin.forms import EndMembershipForm
from portal.auth import audit
from portal.clock import now
from portal.db import get_db
from portal.views import form_status, found


@bp.route(
    "/customers/<int:customer_id>/memberships/<int:membership_id>/end", methods=["GET", "POST"]
)
def end_membership_page(customer_id: int, membership_id: int):
    customer = found(get_customer, customer_id)
    db = get_db()
    billing_day = current_app.config["BILLING_DAY"]
    today = now().date()
    form = EndMembershipForm()
    # Locked for a POST: a billing run of the customer bills it before or after, not during.
    fetch = partial(get_membership, lock=form.is_submitted())
    membership = found(fetch, customer.id, membership_id)
    terms = end_terms(membership, today, billing_day)
    if not form.is_submitted():
        form.last_day.data = membership.ends_on or terms.earliest
    if form.validate_on_submit():
        try:
            end_membership(
                db,
                membership,
                form.last_day.data,
                today=today,
                exception_reason=form.reason.data or "",
                billing_day=billing_day,
            )
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            detail = (
                f"membership {membership.id} of customer {customer.id} ends {membership.ends_on}"
            )
            if membership.end_override_reason:
                detail += f"; exception to the plan's terms: {membership.end_override_reason}"
            audit.record(current_user, "membership.ended", detail)
            last = (
                "its last period for the days up to then"
                if membership.service.prorate_end == Proration.BY_DAY
                else "its last period in full"
            )
            flash(
                f"{customer.name}'s {membership.service.name} ends on "
                f"{membership.ends_on:%d %b %Y}: the billing run invoices {last}.",
                "success",
            )
            return redirect(url_for("admin.customer", customer_id=customer.id))
    return render_template(
        "admin/membership_end.html",
        customer=customer,
        membership=membership,
        terms=terms,
        form=form,
    ), form_status(form)
