from flask import render_template

from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db
from portal.xero_setup import xero_integration
from xero.admin.ledger_check import check_ledgers
from xero.api.errors import XeroError


@bp.route("/reconcile", methods=["GET", "POST"])
def reconcile():
    """The ledger check, on demand: reads Xero (one call per 50 invoices), changes nothing."""
    form = ConfirmForm()
    result = error = None
    if form.validate_on_submit():
        try:
            result = check_ledgers(get_db(), xero_integration().api(get_db()))
        except XeroError as failure:
            error = str(failure)
    return render_template("admin/reconcile.html", form=form, result=result, error=error)
