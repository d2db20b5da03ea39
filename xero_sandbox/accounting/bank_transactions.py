"""Bank transactions: list (where on Type, Reference...) and create RECEIVE-OVERPAYMENTs."""

from __future__ import annotations

from flask import Blueprint, request

from ..errors import json_response
from ..ledger.bank_transactions import prepare_bank_transaction
from ..serialise import bank_transaction_json, envelope
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


def list_bank_transactions():
    org = organisation()
    since = modified_since()
    with sandbox().lock:
        items = [
            bank_transaction_json(org, t)
            for t in org.bank_transactions.values()
            if since is None or t.updated >= since
        ]
    items, extra = paged(filtered(items))
    return json_response(envelope("BankTransactions", items, sandbox().clock.now(), **extra))


def create_bank_transactions():
    org = organisation()
    items = elements(body_json(), "BankTransactions")
    summarize = flag("summarizeErrors", True) if request.method == "PUT" else True
    return write_batch(
        "BankTransactions",
        items,
        lambda item, batch: prepare_bank_transaction(org, item, batch),
        lambda transaction: bank_transaction_json(org, transaction),
        "BankTransactionID",
        summarize,
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/BankTransactions", view_func=list_bank_transactions)
    bp.add_url_rule(
        "/BankTransactions",
        view_func=create_bank_transactions,
        methods=["PUT", "POST"],
        endpoint="create_bank_transactions",
    )
