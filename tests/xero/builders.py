"""Small builders for the sandbox tests, written with xero-python's own models."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from xero_python.accounting import (
    Account,
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineItem,
    Payment,
    Payments,
)

from .conftest import TIMEOUT


def error_messages(exc) -> list[str]:
    """Every ValidationErrors message in a Xero 400 body."""
    body = json.loads(exc.body)
    return [m["Message"] for e in body.get("Elements", []) for m in e.get("ValidationErrors", [])]


def line(description="Hot desk", quantity="1", unit="100.00", account="200", tax="OUTPUT2"):
    return LineItem(
        description=description,
        quantity=Decimal(quantity),
        unit_amount=Decimal(unit),
        account_code=account,
        tax_type=tax,
    )


def create_contact(connected, name="Acme Desk Co", **fields):
    result = connected.api.create_contacts(
        connected.tenant_id,
        Contacts(contacts=[Contact(name=name, **fields)]),
        _request_timeout=TIMEOUT,
    )
    return result.contacts[0]


def invoice(contact_id, lines=None, status="AUTHORISED", **fields):
    return Invoice(
        type="ACCREC",
        contact=Contact(contact_id=contact_id),
        date=date(2024, 5, 1),
        due_date=date(2024, 5, 15),
        status=status,
        line_items=lines if lines is not None else [line()],
        **fields,
    )


def create_invoice(connected, contact_id, lines=None, status="AUTHORISED", **fields):
    result = connected.api.create_invoices(
        connected.tenant_id,
        Invoices(invoices=[invoice(contact_id, lines, status, **fields)]),
        _request_timeout=TIMEOUT,
    )
    return result.invoices[0]


def pay(connected, invoice_id, amount, reference="", account_code="090", **options):
    result = connected.api.create_payments(
        connected.tenant_id,
        Payments(
            payments=[
                Payment(
                    invoice=Invoice(invoice_id=invoice_id),
                    account=Account(code=account_code),
                    amount=Decimal(amount),
                    date=date(2024, 5, 10),
                    reference=reference,
                )
            ]
        ),
        _request_timeout=TIMEOUT,
        **options,
    )
    return result.payments[0]


def get_invoice(connected, invoice_id, **options):
    return connected.api.get_invoice(
        connected.tenant_id, invoice_id, _request_timeout=TIMEOUT, **options
    ).invoices[0]
