from datetime import date

from flask import current_app, flash, redirect, render_template, url_for
from wtforms import SelectField
from wtforms.validators import InputRequired

from billing.errors import BillingError
from billing.services import search_services
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db
from portal.views import form_status
from xero.trial_run import checklist, clean_up, send_test_invoice, trial_invoices


class TrialForm(ConfirmForm):
    service_id = SelectField("Service to invoice", coerce=int, validators=[InputRequired()])


def _form() -> TrialForm:
    form = TrialForm()
    form.service_id.choices = [
        (s.id, f"{s.code} - {s.name}") for s in get_db().scalars(search_services(get_db()))
    ]
    return form


@bp.route("/trial-run", methods=["GET", "POST"])
def trial_run():
    """Send a test invoice to the dummy customer and follow it through Xero and back."""
    form = _form()
    if form.validate_on_submit():
        try:
            invoice = send_test_invoice(
                get_db(),
                form.service_id.data,
                prefix=current_app.config["INVOICE_PREFIX"],
                today=date.today(),
            )
        except BillingError as error:
            form.service_id.errors = [str(error)]
        else:
            flash(
                f"Test invoice {invoice.number} issued; the checklist fills in as it goes.",
                "success",
            )
            return redirect(url_for("admin.trial_run"))
    invoices = trial_invoices(get_db())
    rows = [(invoice, checklist(get_db(), invoice)) for invoice in invoices]
    pending = any(
        not all(step.done for step in steps)
        for invoice, steps in rows
        if invoice.status != "voided"
    )
    return render_template(
        "admin/trial_run.html", form=form, rows=rows, refresh=pending, confirm=ConfirmForm()
    ), form_status(form)


@bp.route("/trial-run/clean-up", methods=["GET", "POST"])
def trial_clean_up():
    form = ConfirmForm()
    if form.validate_on_submit():
        voided = clean_up(get_db())
        flash(
            f"{voided} test invoices voided; their payments are reversed, in Xero too.", "success"
        )
        return redirect(url_for("admin.trial_run"))
    return render_template(
        "admin/confirm.html",
        form=form,
        title="Clean up the test invoices?",
        message="Their payments are reversed and the invoices voided, here and in Xero. "
        "The test customer stays, for the next check.",
        action=url_for("admin.trial_clean_up"),
        button="Clean up",
        back=url_for("admin.trial_run"),
    )
