from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.clock import now
from portal.db import get_db
from xero.admin.ledger_check import (
    active_run,
    finding_counts,
    findings_of,
    latest_run,
    start_run,
)
from xero.models import FindingKind, LedgerCheckRun

#: Findings of each kind shown on the page (the counts say how many there are in all).
SHOWN = 200


@bp.route("/reconcile", methods=["GET", "POST"])
def reconcile():
    """The ledger check: POST queues a run (or finds the one under way) for the background
    worker and shows its progress; the page refreshes itself until the run is over. It only
    reads Xero; nothing is changed."""
    form = ConfirmForm()
    db = get_db()
    if form.validate_on_submit():
        run = start_run(db, current_user.id, now())
        return redirect(url_for("admin.reconcile", run=run.id))
    run_id = request.args.get("run", type=int)
    if run_id is not None:
        run = db.get(LedgerCheckRun, run_id) if 0 < run_id < 2**31 else None
        if run is None:
            abort(404)
    else:
        run = active_run(db) or latest_run(db)
    counts = findings = None
    if run is not None:
        counts = finding_counts(db, run)
        findings = {kind.value: findings_of(db, run, kind, SHOWN) for kind in FindingKind}
    return render_template(
        "admin/reconcile.html",
        form=form,
        run=run,
        counts=counts,
        findings=findings,
        under_way=active_run(db),
        shown=SHOWN,
    )
