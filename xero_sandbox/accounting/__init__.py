"""The Accounting API under /api.xro/2.0, one module per group of resources."""

from __future__ import annotations

from flask import Blueprint

from . import bank_transactions, contacts, invoices, payments, settings

PREFIX = "/api.xro/2.0"


def create_accounting_blueprint() -> Blueprint:
    blueprint = Blueprint("xero_accounting", __name__, url_prefix=PREFIX)
    for module in (settings, contacts, invoices, payments, bank_transactions):
        module.register(blueprint)
    return blueprint
