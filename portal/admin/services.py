from flask import current_app, flash, redirect, render_template, request, url_for

from billing.errors import BillingError
from billing.services import (
    ServiceCodeTaken,
    ServiceDetails,
    active_tax_rates,
    create_service,
    delete_service,
    get_service,
    search_services,
    set_service_active,
    update_service,
)
from portal.admin import bp
from portal.admin.forms import ConfirmForm, ServiceForm
from portal.db import get_db
from portal.views import form_status, found, paginated
from portal.xero_checks import ledger_to_check
from xero.api.errors import XeroError
from xero.settings import ledger_rules
from xero.settings.choices import saved_settings


@bp.get("/services")
def services():
    query = request.args.get("q", "")[:100]
    show_archived = request.args.get("archived") == "1"
    page = paginated(get_db(), search_services(get_db(), query, show_archived))
    return render_template(
        "admin/services.html",
        page=page,
        query=query,
        show_archived=show_archived,
        confirm=ConfirmForm(),
    )


def _form(service=None) -> ServiceForm:
    form = ServiceForm(obj=service)
    if form.cycle.data is None:
        form.cycle.data = ""  # a one-off service's cycle (None) is the "One-off" choice
    form.tax_rate_id.choices = [(r.id, r.label) for r in active_tax_rates(get_db())]
    if service is None and not form.is_submitted():
        form.currency.data = current_app.config["DEFAULT_CURRENCY"]
        form.sales_account_code.data = _default_sales_account()
    if service is not None and not form.is_submitted():
        form.unit_price.data = f"{service.unit_price.normalize():f}"
    return form


def _default_sales_account() -> str:
    """The Xero settings' default sales account when Xero is connected and one is chosen,
    else the configured default."""
    db = get_db()
    tenant_id = ledger_rules.connected_tenant(db)
    settings = saved_settings(db, tenant_id) if tenant_id else None
    if settings is not None and settings.default_sales_account:
        return settings.default_sales_account
    return current_app.config["DEFAULT_SALES_ACCOUNT"]


def _xero_would_refuse(form: ServiceForm) -> bool:
    """Check the account and tax rate against the connected organisation; put what Xero
    would refuse on the fields. Not connected: nothing to check."""
    db = get_db()
    try:
        ledger = ledger_to_check(db)
    except XeroError as error:
        form.form_errors.append(
            f"Xero could not be read to check the sales account ({error}); nothing was saved. "
            "Try again in a moment."
        )
        return True
    if ledger is None:
        return False
    code = (form.sales_account_code.data or "").strip()
    problem = ledger_rules.account_problem(ledger, code)
    if problem:
        form.sales_account_code.errors = [*form.sales_account_code.errors, problem]
    rate = next((r for r in active_tax_rates(db) if r.id == form.tax_rate_id.data), None)
    if rate is not None:
        tax = ledger_rules.tax_problem(
            ledger, code, ledger_rules.tax_type_for(db, rate.id), rate.name
        )
        if tax:
            form.tax_rate_id.errors = [*form.tax_rate_id.errors, tax]
    return bool(form.sales_account_code.errors or form.tax_rate_id.errors)


def _details(form: ServiceForm) -> ServiceDetails:
    # InputRequired and the field's own check have run: a price is there.
    assert form.unit_price.decimal is not None
    return ServiceDetails(
        code=form.code.data,
        name=form.name.data,
        description=form.description.data or "",
        unit_price=form.unit_price.decimal,
        currency=form.currency.data.upper(),
        sales_account_code=form.sales_account_code.data,
        tax_rate_id=form.tax_rate_id.data,
        cycle=form.cycle.data or None,
        timing=form.timing.data,
        prorate_start=form.prorate_start.data,
        prorate_end=form.prorate_end.data,
        minimum_term_periods=form.minimum_term_periods.data or 0,
        notice_days=form.notice_days.data or 0,
    )


def _save(form, template, save, **context):
    if form.validate_on_submit() and not _xero_would_refuse(form):
        try:
            service = save(_details(form))
        except ServiceCodeTaken as error:
            form.code.errors.append(str(error))
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"Service {service.code} saved.", "success")
            return redirect(url_for("admin.services"))
    return render_template(template, form=form, **context), form_status(form)


@bp.route("/services/new", methods=["GET", "POST"])
def new_service():
    form = _form()
    return _save(form, "admin/service_form.html", lambda d: create_service(get_db(), d))


@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
def edit_service(service_id: int):
    service = found(get_service, service_id)
    form = _form(service)
    return _save(
        form,
        "admin/service_form.html",
        lambda d: update_service(get_db(), service, d),
        service=service,
    )


@bp.post("/services/<int:service_id>/archive")
def archive_service(service_id: int):
    service = found(get_service, service_id)
    if ConfirmForm().validate_on_submit():
        set_service_active(get_db(), service, False)
        flash(f"{service.code} archived: it stays on existing invoices.", "success")
    return redirect(url_for("admin.services"))


@bp.post("/services/<int:service_id>/restore")
def restore_service(service_id: int):
    service = found(get_service, service_id)
    if ConfirmForm().validate_on_submit():
        set_service_active(get_db(), service, True)
        flash(f"{service.code} is active again.", "success")
    return redirect(url_for("admin.services", archived=1))


@bp.route("/services/<int:service_id>/delete", methods=["GET", "POST"])
def delete_service_view(service_id: int):
    service = found(get_service, service_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            delete_service(get_db(), service)
        except BillingError as error:
            flash(str(error), "error")
            return redirect(url_for("admin.services"))
        flash(f"{service.code} deleted.", "success")
        return redirect(url_for("admin.services"))
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Delete service {service.code}?",
        message="This cannot be undone. Services used on invoices can only be archived.",
        action=url_for("admin.delete_service_view", service_id=service.id),
        button="Delete service",
        back=url_for("admin.services"),
    )
