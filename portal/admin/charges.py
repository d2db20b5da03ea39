"""Pending charges from the customer page: added for the customer's next invoice from the
billing run, or removed while they are still pending."""

from __future__ import annotations

from decimal import Decimal

from flask import flash, redirect, url_for
from flask_login import current_user

from billing.customers import get_customer
from billing.errors import BillingError
from billing.recurring.charges import ChargeDetails, add_charge, remove_charge
from portal.admin import bp
from portal.admin.customers import _charge_form, _customer_page
from portal.admin.forms import ConfirmForm, MemberForm
from portal.clock import now
from portal.db import get_db, rollback_request
from portal.views import found


@bp.post("/customers/<int:customer_id>/charges")
def add_pending_charge(customer_id: int):
    customer = found(get_customer, customer_id)
    form = _charge_form()
    if form.validate_on_submit():
        try:
            charge = add_charge(
                get_db(),
                customer.id,
                ChargeDetails(
                    service_id=form.service_id.data,
                    charged_on=form.charged_on.data,
                    quantity=form.quantity.decimal or Decimal(1),
                    unit_price=form.unit_price.decimal,
                    description=form.description.data or "",
                ),
                today=now().date(),
                created_by_id=current_user.id,
            )
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(
                f"{charge.service.name} ({charge.charged_on:%d %b %Y}) goes on "
                f"{customer.name}'s next invoice from the billing run.",
                "success",
            )
            return redirect(url_for("admin.customer", customer_id=customer.id))
    rollback_request()  # no charge half-made
    return _customer_page(customer, MemberForm(), 422, charge_form=form)


@bp.post("/customers/<int:customer_id>/charges/<int:charge_id>/remove")
def remove_pending_charge(customer_id: int, charge_id: int):
    customer = found(get_customer, customer_id)
    if ConfirmForm().validate_on_submit():
        try:
            remove_charge(get_db(), customer.id, charge_id)
        except BillingError as error:
            flash(str(error), "error")
        else:
            flash("The charge was removed.", "success")
    return redirect(url_for("admin.customer", customer_id=customer.id))
