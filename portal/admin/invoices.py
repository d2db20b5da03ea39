from datetime import date
from decimal import Decimal

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from billing.customers import Customer
from billing.errors import BillingError
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceStatus
from billing.invoices.operations import (
    DraftDetails,
    DraftLine,
    create_draft,
    delete_draft,
    get_invoice,
    issue_invoice,
    update_draft,
    update_issued,
    void_invoice,
)
from billing.services import Service, search_services
from billing.statements import NEWEST_INVOICES, invoice_list
from billing.tax import LineAmountType
from portal.admin import bp
from portal.admin.forms import ConfirmForm, InvoiceForm, IssuedInvoiceForm
from portal.db import get_db, rollback_request
from portal.views import form_status, found, id_arg, keyset_paginated
from xero.settings import ledger_rules

BLANK_ROWS = 2
LIST_FILTERS = {
    "": (),
    "draft": (InvoiceStatus.DRAFT,),
    "awaiting_payment": (InvoiceStatus.AWAITING_PAYMENT,),
    "paid": (InvoiceStatus.PAID,),
    "voided": (InvoiceStatus.VOIDED,),
}


@bp.get("/invoices")
def invoices():
    status = request.args.get("status", "")
    if status not in LIST_FILTERS:
        abort(400, "Unknown status filter.")
    query = request.args.get("q", "")[:100]
    stmt = invoice_list(
        customer_id=id_arg("customer_id"), statuses=LIST_FILTERS[status], search=query
    )
    return render_template(
        "admin/invoices.html",
        page=keyset_paginated(get_db(), stmt, NEWEST_INVOICES),
        status=status,
        query=query,
        today=date.today(),
    )


def _services() -> list[Service]:
    return list(get_db().scalars(search_services(get_db())))


def _prepare(form: InvoiceForm, services: list[Service]) -> None:
    customers = get_db().execute(select(Customer.id, Customer.name).order_by(Customer.name))
    form.customer_id.choices = [(0, "Choose a customer")] + [(cid, n) for cid, n in customers]
    choices = [("", "Choose a service")] + [(str(s.id), f"{s.code} - {s.name}") for s in services]
    for line in form.lines:
        line.service_id.choices = choices


def _details(form: InvoiceForm, services: list[Service]) -> DraftDetails | None:
    """The draft the form describes, or None with the errors set on the form's fields."""
    by_id = {str(s.id): s for s in services}
    lines: list[DraftLine] = []
    ok = True
    for entry in form.lines:
        row = entry.form  # FormField's own .description would shadow the line's
        if row.is_blank():
            continue
        service = by_id.get(row.service_id.data or "")
        if service is None:
            row.service_id.errors = ["Choose one of the active services."]
            ok = False
            continue
        lines.append(
            DraftLine(
                service_id=service.id,
                # Blank fields take the service's values, so the form works without scripts.
                description=row.description.data or service.description or service.name,
                # .decimal is None for a blank (or all-spaces) field.
                quantity=row.quantity.decimal if row.quantity.decimal is not None else Decimal(1),
                unit_price=(
                    row.unit_price.decimal
                    if row.unit_price.decimal is not None
                    else service.unit_price
                ),
            )
        )
    if not form.customer_id.data:
        form.customer_id.errors = ["Choose a customer."]
        ok = False
    if ok and not lines:
        form.form_errors.append("Add at least one line.")
        ok = False
    if not ok:
        return None
    return DraftDetails(
        customer_id=form.customer_id.data,
        currency=form.currency.data.upper(),
        line_amount_type=LineAmountType(form.line_amount_type.data),
        issue_date=form.issue_date.data,
        due_date=form.due_date.data,
        expected_payment_date=form.expected_payment_date.data,
        reference=form.reference.data or "",
        lines=lines,
    )


def _add_blank_rows(form: InvoiceForm) -> None:
    for _ in range(BLANK_ROWS):
        if len(form.lines) < form.lines.max_entries:
            form.lines.append_entry()


def _draft_form(invoice: Invoice | None, save):
    services = _services()
    form = InvoiceForm(obj=invoice)
    if not form.is_submitted():
        if invoice is None:
            form.currency.data = current_app.config["DEFAULT_CURRENCY"]
            form.issue_date.data = date.today()
            form.customer_id.data = id_arg("customer_id") or 0
            form.lines.pop_entry()
        else:
            while form.lines.entries:
                form.lines.pop_entry()
            for line in invoice.lines:
                form.lines.append_entry(
                    {
                        "service_id": str(line.service_id),
                        "description": line.description,
                        "quantity": f"{line.quantity.normalize():f}",
                        "unit_price": f"{line.unit_price.normalize():f}",
                    }
                )
        _add_blank_rows(form)
    _prepare(form, services)
    if form.validate_on_submit():
        details = _details(form, services)
        if details is not None:
            try:
                invoice = save(details)
            except BillingError as error:
                form.form_errors.append(str(error))
            else:
                flash(f"{invoice.display_number} saved as a draft.", "success")
                return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    service_data = {
        str(s.id): {
            "description": s.description or s.name,
            "unit_price": f"{s.unit_price.normalize():f}",
            "currency": s.currency,
        }
        for s in services
    }
    return render_template(
        "admin/invoice_form.html", form=form, invoice=invoice, service_data=service_data
    ), form_status(form)


@bp.route("/invoices/new", methods=["GET", "POST"])
def new_invoice():
    return _draft_form(None, lambda details: create_draft(get_db(), details))


@bp.route("/invoices/<int:invoice_id>/edit", methods=["GET", "POST"])
def edit_invoice(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    if invoice.state is InvoiceStatus.DRAFT:
        return _draft_form(invoice, lambda details: update_draft(get_db(), invoice, details))
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        flash(f"A {invoice.state.label.lower()} invoice cannot be changed.", "error")
        return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    form = IssuedInvoiceForm(obj=invoice)
    if form.validate_on_submit():
        try:
            update_issued(
                get_db(),
                invoice,
                reference=form.reference.data or "",
                due_date=form.due_date.data,
                expected_payment_date=form.expected_payment_date.data,
            )
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"{invoice.display_number} updated.", "success")
            return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    return render_template(
        "admin/invoice_issued_form.html", form=form, invoice=invoice
    ), form_status(form)


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    return render_template(
        "admin/invoice.html",
        invoice=found(get_invoice, invoice_id),
        confirm=ConfirmForm(),
        today=date.today(),
    )


def _check_lines_with_xero(invoice: Invoice) -> None:
    """A draft whose lines Xero would refuse is not issued: once issued it could only be
    voided. Checked against the organisation's accounts and tax rates as last read (no
    Xero call here); not connected, or never read: nothing to check against."""
    if invoice.state is not InvoiceStatus.DRAFT:
        return
    db = get_db()
    tenant_id = ledger_rules.connected_tenant(db)
    ledger = ledger_rules.remembered(db, tenant_id) if tenant_id else None
    problems = ledger_rules.line_problems(db, ledger, invoice) if ledger else []
    if problems:
        raise BillingError("Not issued: Xero would refuse this invoice. " + " ".join(problems))


@bp.post("/invoices/<int:invoice_id>/issue")
def issue(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        # Locked before asking whether it is a draft: a double click waits here for the first
        # click's commit and is then told the truth (already issued), with no second number.
        was_draft = lock_invoice(get_db(), invoice.id).state is InvoiceStatus.DRAFT
        try:
            _check_lines_with_xero(invoice)
            issue_invoice(
                get_db(), invoice, prefix=current_app.config["INVOICE_PREFIX"], today=date.today()
            )
        except BillingError as error:
            rollback_request()  # not issued: no number is taken
            flash(str(error), "error")
            return render_template(
                "admin/invoice.html", invoice=invoice, confirm=form, today=date.today()
            ), 409
        if was_draft:
            flash(f"Invoice {invoice.number} issued: it is awaiting payment.", "success")
        else:
            flash(f"Invoice {invoice.number} was already issued; nothing changed.", "info")
    return redirect(url_for("admin.invoice", invoice_id=invoice.id))


def _confirmed_action(
    invoice: Invoice, *, action, verb: str, title: str, message: str, offered: bool
):
    """GET asks for confirmation, POST acts. ``offered`` says whether the invoice's state
    allows the action at all; when it does not, no confirmation page is shown (the POST
    still goes to the domain, which refuses it with a message or treats it as a no-op)."""
    form = ConfirmForm()
    if not form.is_submitted() and not offered:
        flash(f"A {invoice.state.label.lower()} invoice cannot be {verb}.", "error")
        return redirect(url_for("admin.invoice", invoice_id=invoice.id))
    if form.validate_on_submit():
        try:
            action(get_db(), invoice)
        except BillingError as error:
            flash(str(error), "error")
            return redirect(url_for("admin.invoice", invoice_id=invoice.id))
        flash(f"{invoice.display_number} {verb}.", "success")
        return redirect(url_for("admin.invoices"))
    return render_template(
        "admin/confirm.html",
        form=form,
        title=title,
        message=message,
        action=request.path,
        button=title.rstrip("?"),
        back=url_for("admin.invoice", invoice_id=invoice.id),
    )


@bp.route("/invoices/<int:invoice_id>/void", methods=["GET", "POST"])
def void(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    return _confirmed_action(
        invoice,
        action=void_invoice,
        verb="voided",
        title=f"Void invoice {invoice.display_number}?",
        message="The customer will no longer owe this invoice. Voiding cannot be undone.",
        offered=invoice.state is InvoiceStatus.AWAITING_PAYMENT and invoice.amount_paid == 0,
    )


@bp.route("/invoices/<int:invoice_id>/delete", methods=["GET", "POST"])
def delete(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    return _confirmed_action(
        invoice,
        action=delete_draft,
        verb="deleted",
        title=f"Delete draft {invoice.display_number}?",
        message="The draft and its lines will be removed. This cannot be undone.",
        offered=invoice.state is InvoiceStatus.DRAFT,
    )
