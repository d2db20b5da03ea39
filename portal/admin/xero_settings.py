"""Settings > Accounting software > Xero > Xero settings: accounts, branding theme, client
names and the tax rate mapping, chosen from lists read live from the organisation.

Saving checks every choice against what Xero answers now (``xero.settings.choices.check``) and
stores nothing unless all of it holds, so a mapping Xero would refuse never reaches an
invoice.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from wtforms import BooleanField, SelectField

from billing.db import outside_transaction, utcnow
from portal.admin import bp
from portal.db import get_db, writes_on_get
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)
from portal.views import form_status
from portal.xero_setup import xero_integration
from xero.api.connection import record_failure, record_success
from xero.api.errors import XeroError
from xero.api.tokens import active_connection
from xero.models import ConnectionStatus
from xero.settings import choices as settings_sync
from xero.settings import ledger_rules

TAX_FIELD = "tax_type_{}"


class XeroSettingsForm(FlaskForm):
    # Choices come from Xero; a posted code that is not among them is refused by
    # settings_sync.check with a message that says why, so WTForms' own check is off.
    default_sales_account = SelectField("Default sales account", validate_choice=False)
    payments_account = SelectField("Account for portal payments", validate_choice=False)
    branding_theme_id = SelectField("Branding theme", validate_choice=False)
    sync_client_names = BooleanField("Keep client names in sync")
    sync_payments_out = BooleanField("Record portal payments in Xero")
    sync_payments_in = BooleanField("Bring payments made in Xero into the portal")


def _form(uses: list[settings_sync.RateInUse]) -> XeroSettingsForm:
    class Form(XeroSettingsForm):
        pass

    for use in uses:
        setattr(
            Form,
            TAX_FIELD.format(use.rate.id),
            SelectField(use.rate.label, validate_choice=False, default=""),
        )
    return Form()


def _fill_choices(form, ledger: settings_sync.Ledger, uses, current: dict[int, str]) -> None:
    form.default_sales_account.choices = [("", "— choose —")] + [
        (a.code, a.label) for a in ledger.revenue_accounts
    ]
    form.payments_account.choices = [("", "— choose —")] + [
        (a.code, f"{a.label} ({'bank' if a.type == 'BANK' else 'payments enabled'})")
        for a in ledger.payment_accounts
    ]
    form.branding_theme_id.choices = [("", "Xero's default theme")] + [
        (t.theme_id, t.name) for t in ledger.themes
    ]
    sales_rates = [(r.tax_type, f"{r.label} – {r.tax_type}") for r in ledger.sales_tax_rates]
    for use in uses:
        field = form[TAX_FIELD.format(use.rate.id)]
        choices = [("", "— choose —"), *sales_rates]
        chosen = field.data or current.get(use.rate.id, "")
        if chosen and chosen not in {c[0] for c in choices}:
            choices.append((chosen, f"{chosen} (not a sales tax rate in Xero)"))
        field.choices = choices


def _prefill(form, ledger, uses, settings, mappings) -> dict[int, str]:
    """Saved values first, else sensible defaults from Xero's lists."""
    suggested = settings_sync.prefill(ledger, uses, mappings)
    if settings is not None:
        form.default_sales_account.data = settings.default_sales_account
        form.payments_account.data = settings.payments_account
        form.branding_theme_id.data = settings.branding_theme_id
        form.sync_client_names.data = settings.sync_client_names
        form.sync_payments_out.data = settings.sync_payments_out
        form.sync_payments_in.data = settings.sync_payments_in
    else:
        # Both directions are on until an admin says otherwise (the columns' defaults).
        form.sync_payments_out.data = form.sync_payments_in.data = True
        default = current_app.config["DEFAULT_SALES_ACCOUNT"]
        revenue = [a.code for a in ledger.revenue_accounts]
        form.default_sales_account.data = default if default in revenue else next(iter(revenue), "")
        banks = [a.code for a in ledger.payment_accounts if a.type == "BANK"]
        form.payments_account.data = next(iter(banks), "")
        form.branding_theme_id.data = ledger.themes[0].theme_id if ledger.themes else ""
    for use in uses:
        form[TAX_FIELD.format(use.rate.id)].data = suggested.get(use.rate.id, "")
    return suggested


def _choice(form, uses) -> settings_sync.Choice:
    return settings_sync.Choice(
        default_sales_account=(form.default_sales_account.data or "").strip(),
        payments_account=(form.payments_account.data or "").strip(),
        branding_theme_id=(form.branding_theme_id.data or "").strip(),
        sync_client_names=bool(form.sync_client_names.data),
        sync_payments_out=bool(form.sync_payments_out.data),
        sync_payments_in=bool(form.sync_payments_in.data),
        tax_types={
            use.rate.id: (form[TAX_FIELD.format(use.rate.id)].data or "").strip() for use in uses
        },
    )


@bp.route("/xero/settings", methods=["GET", "POST"])
@writes_on_get  # reading Xero's accounts and tax rates stores them (the ledger snapshot)
def xero_settings():
    db = get_db()
    connection = active_connection(db)
    if connection is None:
        flash("Connect to Xero first: the settings are read from your organisation.", "info")
        return redirect(url_for("admin.xero_connection"))
    if connection.status != ConnectionStatus.ACTIVE:
        flash("Xero needs to be reconnected before its settings can be read.", "error")
        return redirect(url_for("admin.xero_connection"))
    uses = settings_sync.rates_in_use(db)
    settings = settings_sync.saved_settings(db, connection.tenant_id)
    mappings = settings_sync.saved_mappings(db)
    form = _form(uses)
    context = {"connection": connection, "uses": uses, "form": form, "settings": settings}

    try:
        api = xero_integration().api(db)
        # No transaction may stay open while Xero is called: on SQLite it would hold the
        # write lock the rate limiter's own transaction needs.
        outside_transaction(db)
        ledger = settings_sync.read_ledger(api)
        theme_id = (form.branding_theme_id.data if form.is_submitted() else None) or (
            settings.branding_theme_id if settings else ""
        )
        theme = ledger.theme(theme_id) if theme_id else None
        service_check = settings_sync.payment_services(api, theme) if theme else None
    except XeroError as error:
        record_failure(connection, error, utcnow())
        context["xero_error"] = str(error)
        # The page, with the message, is the answer; the failure stays on record for the
        # health panel (no rollback_request()), and nothing else has been written.
        status = 422 if form.is_submitted() else 200
        return render_template("admin/xero_settings.html", **context), status
    record_success(connection, utcnow())
    # What services and invoices are checked against from now on, without a call each.
    ledger_rules.remember(db, connection.tenant_id, ledger, utcnow())

    suggested = {} if form.is_submitted() else _prefill(form, ledger, uses, settings, mappings)
    context.update(ledger=ledger, suggested=suggested, saved_mappings=mappings)
    _fill_choices(form, ledger, uses, mappings)

    if form.validate_on_submit():
        choice = _choice(form, uses)
        problems = settings_sync.check(ledger, choice, uses)
        for name, messages in problems.items():
            form[name].errors = list(form[name].errors) + messages
        if not problems:
            has_service = bool(service_check and service_check.has_service)
            settings_sync.save(db, connection.tenant_id, ledger, choice, has_service)
            flash("Xero settings saved.", "success")
            if theme is not None and service_check is not None and not service_check.has_service:
                flash(_no_service_message(theme, service_check), "warning")
            return redirect(url_for("admin.xero_settings"))
        form.form_errors.append(
            "Nothing was saved: Xero would refuse invoices made with these settings."
        )
    context["service_warning"] = (
        _no_service_message(theme, service_check)
        if theme is not None and service_check is not None and not service_check.has_service
        else ""
    )
    return render_template("admin/xero_settings.html", **context), form_status(form)


def _no_service_message(theme, check: settings_sync.PaymentServiceCheck) -> str:
    if not check.known:
        return (
            f"Could not check whether the branding theme {theme.name} has a payment service "
            f"({check.problem}). Make sure one is set up in Xero, or invoices have no Pay now."
        )
    return settings_sync.NO_PAYMENT_SERVICE.format(name=theme.name)
