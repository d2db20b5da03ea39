"""The billing run page: a preview of what a billing date invoices (saving nothing), the
button that queues the run for the background worker, and the run's progress; the page
refreshes itself until the run is over."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from billing.errors import BillingError
from billing.recurring import run as billing
from billing.recurring.model import BillingRun
from billing.recurring.runner import active_run, failures_of, recent_runs, start_run
from portal.admin import bp
from portal.admin.forms import BillingRunForm
from portal.auth import audit
from portal.clock import now
from portal.db import get_db

#: Customers the preview lists (its totals count every one).
SHOWN = 200


def _preview_date(raw: str | None, today: date) -> tuple[date, str]:
    if not raw:
        return today, ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return today, f"{raw[:40]!r} is not a date such as {today.isoformat()}."


@bp.route("/billing-run", methods=["GET", "POST"])
def billing_run():
    db = get_db()
    today = now().date()
    billing_day = current_app.config["BILLING_DAY"]
    form = BillingRunForm()
    error = ""
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            under_way = active_run(db)
            try:
                run = start_run(
                    db,
                    form.billing_date.data,
                    now=now(),
                    billing_day=billing_day,
                    started_by_id=current_user.id,
                )
            except BillingError as refused:
                error = str(refused)
            else:
                if under_way is None:  # not the same date's run under way, shown again
                    detail = f"run {run.id}, {run.billing_date}"
                    audit.record(current_user, "billing_run.started", detail)
                return redirect(url_for("admin.billing_run", run=run.id))
        else:
            error = " ".join(
                [*form.form_errors]
                + [f"{field.label.text}: {message}" for field in form for message in field.errors]
            )
        status = 422
        day = form.billing_date.data or today
    else:
        day, error = _preview_date(request.args.get("date"), today)
    run_id = request.args.get("run", type=int)
    run = None
    if run_id is not None:
        run = db.get(BillingRun, run_id) if 0 < run_id < 2**31 else None
        if run is None:
            abort(404)
    shown = None
    if run is None and not error:
        try:
            billing.check_billing_date(day, today, billing_day)
        except BillingError as refused:
            error = str(refused)
        else:
            shown = billing.preview(db, day, billing_day=billing_day)
    form.billing_date.data = day
    return render_template(
        "admin/billing_run.html",
        form=form,
        day=day,
        error=error,
        preview=shown,
        shown=SHOWN,
        run=run,
        failures=failures_of(db, run) if run is not None else [],
        under_way=active_run(db),
        runs=recent_runs(db),
        automatic=current_app.config["BILLING_AUTOMATIC"],
        hour=current_app.config["BILLING_HOUR"],
    ), status
