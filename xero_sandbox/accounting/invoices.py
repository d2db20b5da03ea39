"""Invoices: list and get, create/update in batches, online invoice, email, history."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from .. import rules
from ..errors import ValidationFailure, json_response, not_found, validation_exception
from ..ledger.invoices import prepare_invoice
from ..serialise import envelope, invoice_json
from ..state import Invoice, SentEmail
from .common import (
    body_json,
    elements,
    flag,
    ids_arg,
    list_answer,
    organisation,
    register_collection,
    sandbox,
    unitdp,
    write_batch,
)


def list_invoices() -> ResponseReturnValue:
    org = organisation()
    ids = ids_arg("IDs")
    numbers = request.args.get("InvoiceNumbers")
    wanted_numbers = {n.strip() for n in numbers.split(",")} if numbers else None
    statuses = request.args.get("Statuses")
    wanted_statuses = {s.strip().upper() for s in statuses.split(",")} if statuses else None
    contact_ids = ids_arg("ContactIDs")
    dp = unitdp()

    def keep(i: Invoice) -> bool:
        return (
            (ids is None or i.invoice_id in ids)
            and (wanted_numbers is None or i.invoice_number in wanted_numbers)
            and (wanted_statuses is None or i.status in wanted_statuses)
            and (contact_ids is None or i.contact_id in contact_ids)
        )

    return list_answer("Invoices", org.invoices.values(), lambda i: invoice_json(org, i, dp), keep)


def _lookup(invoice_ref: str) -> Invoice | None:
    org = organisation()
    return org.invoices.get(invoice_ref.lower()) or org.invoice_by_number(invoice_ref)


def get_invoice(invoice_ref: str) -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        invoice = _lookup(invoice_ref)
        if invoice is None:
            return not_found()
        data = invoice_json(org, invoice, unitdp())
    return json_response(envelope("Invoices", [data], sandbox().clock.now()))


def write_invoices() -> ResponseReturnValue:
    org = organisation()
    dp = unitdp()
    items = elements(body_json(), "Invoices")
    create_only = request.method == "PUT"
    return write_batch(
        "Invoices",
        items,
        lambda item, batch: prepare_invoice(org, item, batch, dp, create_only=create_only),
        lambda invoice: invoice_json(org, invoice, dp),
        "InvoiceID",
        flag("summarizeErrors", True),
    )


def update_invoice(invoice_ref: str) -> ResponseReturnValue:
    org = organisation()
    dp = unitdp()
    with sandbox().lock:
        invoice = _lookup(invoice_ref)
    if invoice is None:
        return not_found()
    items = elements(body_json(), "Invoices")
    return write_batch(
        "Invoices",
        items[:1],
        lambda item, batch: prepare_invoice(org, item, batch, dp, invoice_id=invoice.invoice_id),
        lambda saved: invoice_json(org, saved, dp),
        "InvoiceID",
        True,
    )


def online_invoice(invoice_ref: str) -> ResponseReturnValue:
    with sandbox().lock:
        invoice = _lookup(invoice_ref)
        if invoice is None:
            return not_found()
        if invoice.type != "ACCREC" or invoice.status not in ("AUTHORISED", "PAID"):
            return validation_exception(
                [
                    {
                        "InvoiceID": invoice.invoice_id,
                        "ValidationErrors": [{"Message": rules.ONLINE_INVOICE_NOT_AVAILABLE}],
                    }
                ]
            )
        pattern = sandbox().online_invoice_url
        url = (
            pattern.format(invoice_id=invoice.invoice_id)
            if pattern
            else url_for(
                "xero_sandbox_control.online_invoice_page",
                invoice_id=invoice.invoice_id,
                _external=True,
            )
        )
    return json_response(
        envelope("OnlineInvoices", [{"OnlineInvoiceUrl": url}], sandbox().clock.now())
    )


def email_invoice(invoice_ref: str) -> ResponseReturnValue:
    """Xero emails the contact and marks the invoice sent; the sandbox keeps the email."""
    org = organisation()
    now = sandbox().clock.now()
    with sandbox().lock:
        invoice = _lookup(invoice_ref)
        if invoice is None:
            return not_found()
        contact = org.contacts[invoice.contact_id]
        try:
            if invoice.type != "ACCREC" or invoice.status not in ("AUTHORISED", "PAID"):
                raise ValidationFailure(rules.INVOICE_NOT_EMAILABLE)
            if not contact.email_address:
                raise ValidationFailure(rules.CONTACT_HAS_NO_EMAIL)
        except ValidationFailure as failure:
            return validation_exception(
                [
                    {
                        "InvoiceID": invoice.invoice_id,
                        "ValidationErrors": [{"Message": m} for m in failure.messages],
                    }
                ]
            )
        org.sent_emails.append(SentEmail(invoice.invoice_id, contact.email_address, now))
        invoice.sent_to_contact = True
        invoice.updated = now
    return "", 204


def register(bp: Blueprint) -> None:
    register_collection(
        bp,
        "Invoices",
        "invoice_ref",
        (list_invoices, write_invoices, get_invoice, update_invoice),
        history_of=_lookup,
    )
    bp.add_url_rule("/Invoices/<invoice_ref>/OnlineInvoice", view_func=online_invoice)
    bp.add_url_rule("/Invoices/<invoice_ref>/Email", view_func=email_invoice, methods=["POST"])
