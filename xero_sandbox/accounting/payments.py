"""Payments: list (where on Invoice/Reference) and get, create against invoices, delete."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..errors import json_response, not_found
from ..ledger.payments import prepare_payment, prepare_payment_deletion
from ..serialise import envelope, payment_json
from .common import (
    body_json,
    elements,
    list_answer,
    organisation,
    register_collection,
    sandbox,
    summarize_errors,
    write_batch,
)


def list_payments() -> ResponseReturnValue:
    org = organisation()
    return list_answer("Payments", org.payments.values(), lambda p: payment_json(org, p))


def get_payment(payment_id: str) -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        payment = org.payments.get(payment_id.lower())
        if payment is None:
            return not_found()
        return json_response(
            envelope("Payments", [payment_json(org, payment, True)], sandbox().clock.now())
        )


def create_payments() -> ResponseReturnValue:
    org = organisation()
    # PUT takes {"Payments": [...]} (createPayments); POST one Payment (createPayment).
    items = elements(body_json(), "Payments")
    return write_batch(
        "Payments",
        items,
        lambda item, batch: prepare_payment(org, item, batch),
        lambda payment: payment_json(org, payment, True),
        "PaymentID",
        summarize_errors(),
    )


def delete_payment(payment_id: str) -> ResponseReturnValue:
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
        lambda saved: payment_json(org, saved, True),
        "PaymentID",
        True,
    )


def register(bp: Blueprint) -> None:
    register_collection(
        bp,
        "Payments",
        "payment_id",
        (list_payments, create_payments, get_payment, delete_payment),
        history_of=lambda ref: organisation().payments.get(ref.lower()),
    )
