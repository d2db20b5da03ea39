from flask import flash, redirect, render_template, url_for
from sqlalchemy import select

from billing.errors import BillingError
from billing.services import TaxRate, TaxRateNameTaken, add_tax_rate, get_tax_rate
from portal.admin import bp
from portal.admin.forms import ConfirmForm, TaxRateForm
from portal.db import get_db
from portal.views import form_status, found


@bp.route("/tax-rates", methods=["GET", "POST"])
def tax_rates():
    form = TaxRateForm()
    if form.validate_on_submit():
        try:
            rate = add_tax_rate(get_db(), form.name.data, form.rate_percent.decimal)
        except TaxRateNameTaken as error:
            form.name.errors.append(str(error))
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"Tax rate {rate.label} added.", "success")
            return redirect(url_for("admin.tax_rates"))
    rates = get_db().scalars(select(TaxRate).order_by(TaxRate.active.desc(), TaxRate.name))
    return render_template(
        "admin/tax_rates.html", rates=list(rates), form=form, confirm=ConfirmForm()
    ), form_status(form)


@bp.post("/tax-rates/<int:rate_id>/toggle")
def toggle_tax_rate(rate_id: int):
    rate = found(get_tax_rate, rate_id)
    if ConfirmForm().validate_on_submit():
        rate.active = not rate.active
        flash(f"{rate.name} {'reactivated' if rate.active else 'retired'}.", "success")
    return redirect(url_for("admin.tax_rates"))
