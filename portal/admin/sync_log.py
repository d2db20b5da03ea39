"""The Xero sync log: every job with its object and attempts, Retry and Ignore, and the
Xero panels of the admin home and invoice pages (template globals, so those pages' views
need not know about Xero)."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db
from portal.views import id_arg
from xero.admin import sync_log as sync_jobs
from xero.admin.sync_log import KIND_LABELS, STATUS_LABELS, JobNotFound, LogFilter, SyncLogError
from xero.models import JobKind

FILTER_LABELS = {
    LogFilter.ALL: "All",
    LogFilter.FAILING: "Failing",
    LogFilter.ATTENTION: "Needs attention",
    LogFilter.DONE: "Done",
    LogFilter.IGNORED: "Ignored",
}


@bp.app_template_global()
def xero_sync_health() -> sync_jobs.SyncHealth:
    return sync_jobs.health(get_db())


@bp.app_template_global()
def xero_panel_for_invoice(invoice_id: int) -> sync_jobs.InvoiceXeroStatus:
    return sync_jobs.invoice_status(get_db(), invoice_id)


@bp.app_template_filter("utc_time")
def utc_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


@bp.record_once
def _labels(state) -> None:
    # Globals, not a context processor: macros imported without context see globals only.
    state.app.jinja_env.globals.update(
        sync_kind_labels=KIND_LABELS, sync_status_labels=STATUS_LABELS
    )


@bp.get("/sync-log")
def sync_log():
    raw = request.args.get("filter", LogFilter.ALL.value)
    try:
        log_filter = LogFilter(raw)
    except ValueError:
        abort(400, "Unknown filter.")
    page = sync_jobs.job_page(
        get_db(),
        log_filter,
        before=id_arg("before"),
        after=id_arg("after"),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template(
        "admin/sync_log.html", page=page, log_filter=log_filter, filters=FILTER_LABELS
    )


def _row(job_id: int) -> sync_jobs.JobRow:
    try:
        return sync_jobs.job_row(get_db(), job_id)
    except JobNotFound:
        abort(404)


@bp.get("/sync-log/<int:job_id>")
def sync_job(job_id: int):
    row = _row(job_id)
    return render_template(
        "admin/sync_log_job.html",
        row=row,
        attempts=sync_jobs.attempts(get_db(), job_id),
        confirm=ConfirmForm(),
        retryable=row.job.status in sync_jobs.RETRYABLE,
        ignorable=row.job.status in sync_jobs.IGNORABLE,
    )


@bp.post("/sync-log/<int:job_id>/retry")
def retry_sync_job(job_id: int):
    _row(job_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            sync_jobs.retry_job(get_db(), job_id, current_user.id)
        except SyncLogError as error:
            flash(str(error), "error")
        else:
            flash(f"Job {job_id} is queued again and will run shortly.", "success")
    return redirect(url_for("admin.sync_job", job_id=job_id))


@bp.route("/sync-log/<int:job_id>/ignore", methods=["GET", "POST"])
def ignore_sync_job(job_id: int):
    row = _row(job_id)
    form = ConfirmForm()
    back = url_for("admin.sync_job", job_id=job_id)
    if not form.is_submitted() and row.job.status not in sync_jobs.IGNORABLE:
        flash("This job cannot be ignored in its present state.", "error")
        return redirect(back)
    if form.validate_on_submit():
        try:
            sync_jobs.ignore_job(get_db(), job_id, current_user.id)
        except SyncLogError as error:
            flash(str(error), "error")
        else:
            flash(f"Job {job_id} is ignored: the portal will not send it to Xero.", "success")
        return redirect(back)
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Ignore sync job {job_id}?",
        message=f"{KIND_LABELS.get(JobKind(row.job.kind), row.job.kind)} for "
        f"{row.object_label} will "
        "not be sent to Xero, and Xero and the portal may then disagree until someone fixes "
        "it by hand. An ignored job can be retried later from the sync log.",
        action=request.path,
        button="Ignore job",
        back=back,
    )
