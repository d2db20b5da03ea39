"""Bank transactions: list (where on Type, Reference...) and create RECEIVE-OVERPAYMENTs."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..ledger.bank_transactions import prepare_bank_transaction
from ..serialise import bank_transaction_json
from .common import (
    body_json,
    elements,
    list_answer,
    organisation,
    summarize_errors,
    write_batch,
)


def list_bank_transactions() -> ResponseReturnValue:
    org = organisation()
    return list_answer(
        "BankTransactions", org.bank_transactions.values(), lambda t: bank_transaction_json(org, t)
    )


def create_bank_transactions() -> ResponseReturnValue:
    org = organisation()
    items = elements(body_json(), "BankTransactions")
    return write_batch(
        "BankTransactions",
        items,
        lambda item, batch: prepare_bank_transaction(org, item, batch),
        lambda transaction: bank_transaction_json(org, transaction),
        "BankTransactionID",
        summarize_errors(),
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/BankTransactions", view_func=list_bank_transactions)
    bp.add_url_rule(
        "/BankTransactions",
        view_func=create_bank_transactions,
        methods=["PUT", "POST"],
        endpoint="create_bank_transactions",
    )
