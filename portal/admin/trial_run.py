from datetime import date

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import InputRequired

from billing.errors import BillingError
from billing.services import search_services
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db
from portal.views import form_status
from xero.admin.trial_run import (
    checklist,
    clean_up,
    cleanup_progress,
    send_test_invoice,
    to_clean_up,
    trial_invoices,
)
from xero.sync import trial_cleanup


@bp.record_once
def _register_gateway(state) -> None:
    """The worker refunds test card payments with the portal's own Stripe keys."""
    from portal.stripe_setup import stripe_gateway

    app = state.app
    trial_cleanup.register_gateway(lambda db: stripe_gateway(db, app))


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
                prefix=current_app.config["TEST_INVOICE_PREFIX"],
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
    db = get_db()
    rows = [
        (invoice, checklist(db, invoice), cleanup_progress(db, invoice))
        for invoice in trial_invoices(db)
    ]
    # Refresh while something is still on its way: a payment, a sync or a clean-up.
    pending = any(
        (not progress.done and not progress.needs_attention)
        if progress is not None
        else invoice.status != "voided" and not all(step.done for step in steps)
        for invoice, steps, progress in rows
    )
    return render_template(
        "admin/trial_run.html",
        form=form,
        rows=rows,
        refresh=pending,
        can_clean_up=bool(to_clean_up(db)),
    ), form_status(form)


@bp.route("/trial-run/clean-up", methods=["GET", "POST"])
def trial_clean_up():
    form = ConfirmForm()
    db = get_db()
    if form.validate_on_submit():
        started = clean_up(db, requested_by_id=current_user.id)
        if started:
            numbers = ", ".join(invoice.display_number for invoice in started)
            flash(
                f"Clean-up started: {numbers}. Refunds in Stripe, deletions and the void in "
                "Xero, then the void here follow in the background; the checklist shows each "
                "step as it is done.",
                "success",
            )
        else:
            flash("Nothing to clean up: every test invoice is voided or being cleaned up.", "info")
        return redirect(url_for("admin.trial_run"))
    invoices = to_clean_up(db)
    plans = [(invoice, trial_cleanup.card_payments(invoice)) for invoice in invoices]
    return render_template("admin/trial_clean_up.html", form=form, plans=plans)
