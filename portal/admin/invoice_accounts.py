"""Correct a line's sales account on an issued invoice that Xero refused, and send it again.

The only way out of "Account code '999' is not a valid code" besides voiding: the account is
changed on the awaiting-payment invoice (its row locked) and its stopped sync job retried.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from billing.errors import BillingError
from billing.invoices.line_accounts import change_line_account
from billing.invoices.model import InvoiceStatus
from billing.invoices.operations import get_invoice
from portal.admin import bp
from portal.admin.forms import CODE, strip
from portal.db import get_db
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)
from portal.views import form_status, found
from portal.xero_checks import ledger_to_check
from xero.admin import sync_log as sync_jobs
from xero.api.errors import XeroError
from xero.settings import ledger_rules


class LineAccountForm(FlaskForm):
    line_id = IntegerField(validators=[InputRequired()])
    account_code = StringField(
        "Sales account code",
        validators=[DataRequired(), Length(max=10), CODE],
        filters=[strip],
    )


def _xero_problem(form: LineAccountForm, line) -> str:
    """Why Xero would refuse the new account on this line ("" when it would not, or when
    Xero is not connected)."""
    db = get_db()
    try:
        ledger = ledger_to_check(db)
    except XeroError as error:
        return f"Xero could not be read to check the account ({error}); nothing was changed."
    if ledger is None:
        return ""
    code = form.account_code.data
    return ledger_rules.account_problem(ledger, code) or ledger_rules.tax_problem(
        ledger, code, ledger_rules.tax_type_for(db, line.tax_rate_id), line.tax_rate.name
    )


@bp.route("/invoices/<int:invoice_id>/accounts", methods=["GET", "POST"])
def invoice_accounts(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        flash(f"A {invoice.state.label.lower()} invoice's accounts cannot be corrected.", "error")
        return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    form = LineAccountForm()
    if form.validate_on_submit():
        line = next((ln for ln in invoice.lines if ln.id == form.line_id.data), None)
        problem = "That line is not on this invoice." if line is None else _xero_problem(form, line)
        if problem:
            form.account_code.errors = [*form.account_code.errors, problem]
        else:
            try:
                change = change_line_account(
                    get_db(), invoice.id, form.line_id.data, form.account_code.data
                )
            except BillingError as error:
                form.form_errors.append(str(error))
            else:
                job = sync_jobs.resend_invoice(
                    get_db(),
                    invoice.id,
                    current_user.id,
                    f"{invoice.display_number}: line {change.line.description[:60]!r} "
                    f"account {change.old_code} -> {change.new_code}",
                )
                flash(
                    f"{invoice.display_number}: the line's account is now {change.new_code}; "
                    f"the invoice is queued for Xero again (job #{job.id}).",
                    "success",
                )
                return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    return render_template("admin/invoice_accounts.html", invoice=invoice, form=form), form_status(
        form
    )
