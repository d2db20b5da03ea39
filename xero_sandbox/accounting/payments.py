"""Payments: list (where on Invoice/Reference) and get, create against invoices, delete."""

from __future__ import annotations

from flask import Blueprint, request

from ..errors import json_response, not_found
from ..ledger.payments import prepare_payment, prepare_payment_deletion
from ..serialise import envelope, history_json, payment_json
from .common import (
    body_json,
    elements,
    filtered,
    flag,
    modified_since,
    organisation,
    paged,
    sandbox,
    write_batch,
)
from .history import add_history


def list_payments():
    org = organisation()
    since = modified_since()
    with sandbox().lock:
        items = [
            payment_json(org, p)
            for p in org.payments.values()
            if since is None or p.updated >= since
        ]
    items, extra = paged(filtered(items))
    return json_response(envelope("Payments", items, sandbox().clock.now(), **extra))


def get_payment(payment_id: str):
    org = organisation()
    with sandbox().lock:
        payment = org.payments.get(payment_id.lower())
        if payment is None:
            return not_found()
        return json_response(
            envelope("Payments", [payment_json(org, payment)], sandbox().clock.now())
        )


def create_payments():
    org = organisation()
    # PUT takes {"Payments": [...]} (createPayments); POST one Payment (createPayment).
    items = elements(body_json(), "Payments")
    summarize = flag("summarizeErrors", True) if request.method == "PUT" else True
    return write_batch(
        "Payments",
        items,
        lambda item, batch: prepare_payment(org, item, batch),
        lambda payment: payment_json(org, payment),
        "PaymentID",
        summarize,
    )


def delete_payment(payment_id: str):
    org = organisation()
    with sandbox().lock:
        payment = org.payments.get(payment_id.lower())
    if payment is None:
        return not_found()
    items = elements(body_json(), "Payments")
    return write_batch(
        "Payments",
        items[:1],
        lambda item, batch: prepare_payment_deletion(org, payment, item, batch),
        lambda saved: payment_json(org, saved),
        "PaymentID",
        True,
    )


def payment_history(payment_id: str):
    with sandbox().lock:
        payment = organisation().payments.get(payment_id.lower())
        if payment is None:
            return not_found()
        if request.method == "PUT":
            return add_history(payment.history)
        records = [history_json(r) for r in payment.history]
    return json_response(envelope("HistoryRecords", records, sandbox().clock.now()))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/Payments", view_func=list_payments)
    bp.add_url_rule(
        "/Payments", view_func=create_payments, methods=["PUT", "POST"], endpoint="create_payments"
    )
    bp.add_url_rule("/Payments/<payment_id>", view_func=get_payment)
    bp.add_url_rule(
        "/Payments/<payment_id>",
        view_func=delete_payment,
        methods=["POST"],
        endpoint="delete_payment",
    )
    bp.add_url_rule(
        "/Payments/<payment_id>/History", view_func=payment_history, methods=["GET", "PUT"]
    )
