"""Payments through xero-python: partial, full, refused, deleted, and their invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from xero_python.accounting import Account, Invoice, Invoices, Payment, PaymentDelete, Payments
from xero_python.exceptions import AccountingBadRequestException

from .builders import create_contact, create_invoice, error_messages, get_invoice, pay
from .conftest import TIMEOUT


@pytest.fixture
def invoice_120(accounting_api):
    contact = create_contact(accounting_api)
    return create_invoice(accounting_api, contact.contact_id)  # 100 + 20% VAT


def test_partial_then_full_payment_marks_paid(accounting_api, invoice_120):
    first = pay(accounting_api, invoice_120.invoice_id, "20.00", reference="stripe:pi_1")
    assert first.status == "AUTHORISED" and first.amount == Decimal("20.00")
    assert first.invoice.invoice_id == invoice_120.invoice_id
    partly = get_invoice(accounting_api, invoice_120.invoice_id)
    assert (partly.status, partly.amount_paid, partly.amount_due) == (
        "AUTHORISED",
        Decimal("20.00"),
        Decimal("100.00"),
    )
    pay(accounting_api, invoice_120.invoice_id, "100.00", reference="stripe:pi_2")
    paid = get_invoice(accounting_api, invoice_120.invoice_id)
    assert (paid.status, paid.amount_paid, paid.amount_due) == (
        "PAID",
        Decimal("120.00"),
        Decimal("0.00"),
    )
    assert len(paid.payments) == 2 and paid.fully_paid_on_date is not None


def test_payment_to_an_account_by_id_with_payments_enabled(accounting_api, sandbox, invoice_120):
    clearing = sandbox.org.account_by_code("615")
    result = accounting_api.api.create_payment(
        accounting_api.tenant_id,
        Payment(
            invoice=Invoice(invoice_id=invoice_120.invoice_id),
            account=Account(account_id=clearing.account_id),
            amount=Decimal("120.00"),
        ),
        _request_timeout=TIMEOUT,
    )
    assert result.payments[0].account.code == "615"
    assert get_invoice(accounting_api, invoice_120.invoice_id).status == "PAID"


def test_payment_above_amount_due_is_refused(accounting_api, invoice_120):
    pay(accounting_api, invoice_120.invoice_id, "100.00")
    with pytest.raises(AccountingBadRequestException) as caught:
        pay(accounting_api, invoice_120.invoice_id, "20.01")
    assert error_messages(caught.value) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    assert get_invoice(accounting_api, invoice_120.invoice_id).amount_due == Decimal("20.00")


def test_payment_to_a_sales_account_or_a_draft_is_refused(accounting_api, invoice_120):
    with pytest.raises(AccountingBadRequestException) as caught:
        pay(accounting_api, invoice_120.invoice_id, "10.00", account_code="200")
    assert error_messages(caught.value) == ["Account type is invalid for making a payment to/from"]
    contact_id = invoice_120.contact.contact_id
    draft = create_invoice(accounting_api, contact_id, status="DRAFT")
    with pytest.raises(AccountingBadRequestException) as caught:
        pay(accounting_api, draft.invoice_id, "10.00")
    assert error_messages(caught.value) == [
        "Payments can only be made against Authorised documents"
    ]


def test_deleting_a_payment_reverts_the_invoice(accounting_api, invoice_120):
    payment = pay(accounting_api, invoice_120.invoice_id, "120.00")
    assert get_invoice(accounting_api, invoice_120.invoice_id).status == "PAID"
    deleted = accounting_api.api.delete_payment(
        accounting_api.tenant_id,
        payment.payment_id,
        PaymentDelete(status="DELETED"),
        _request_timeout=TIMEOUT,
    ).payments[0]
    assert deleted.status == "DELETED"
    reverted = get_invoice(accounting_api, invoice_120.invoice_id)
    assert (reverted.status, reverted.amount_paid, reverted.amount_due) == (
        "AUTHORISED",
        Decimal("0.00"),
        Decimal("120.00"),
    )
    assert reverted.payments == []
    with pytest.raises(AccountingBadRequestException):
        accounting_api.api.delete_payment(
            accounting_api.tenant_id,
            payment.payment_id,
            PaymentDelete(status="DELETED"),
            _request_timeout=TIMEOUT,
        )


def test_voiding_or_editing_an_invoice_with_payments_is_refused(accounting_api, invoice_120):
    pay(accounting_api, invoice_120.invoice_id, "10.00")
    for change in (Invoice(status="VOIDED"), Invoice(reference="late edit")):
        with pytest.raises(AccountingBadRequestException) as caught:
            accounting_api.api.update_invoice(
                accounting_api.tenant_id,
                invoice_120.invoice_id,
                Invoices(invoices=[change]),
                _request_timeout=TIMEOUT,
            )
        assert error_messages(caught.value) == [
            "Invoice not of valid status for modification",
            "This document cannot be edited as it has a payment or credit note allocated to it.",
        ]
    assert get_invoice(accounting_api, invoice_120.invoice_id).status == "AUTHORISED"


def test_payment_batch_counts_earlier_elements_against_amount_due(accounting_api, invoice_120):
    def payment(amount):
        return Payment(
            invoice=Invoice(invoice_id=invoice_120.invoice_id),
            account=Account(code="090"),
            amount=Decimal(amount),
        )

    result = accounting_api.api.create_payments(
        accounting_api.tenant_id,
        Payments(payments=[payment("100.00"), payment("100.00"), payment("20.00")]),
        summarize_errors=False,
        _request_timeout=TIMEOUT,
    )
    assert [p.status_attribute_string for p in result.payments] == ["OK", "ERROR", "OK"]
    assert get_invoice(accounting_api, invoice_120.invoice_id).status == "PAID"


def test_find_payments_by_invoice_and_reference(accounting_api, invoice_120):
    first = pay(accounting_api, invoice_120.invoice_id, "20.00", reference="portal:pay_1")
    pay(accounting_api, invoice_120.invoice_id, "30.00", reference="portal:pay_2")
    api, tenant = accounting_api.api, accounting_api.tenant_id
    by_reference = api.get_payments(
        tenant, where='Reference=="portal:pay_1"', _request_timeout=TIMEOUT
    )
    assert [p.payment_id for p in by_reference.payments] == [first.payment_id]
    by_invoice = api.get_payments(
        tenant,
        where=f'Invoice.InvoiceID==guid("{invoice_120.invoice_id}") AND Status=="AUTHORISED"',
        _request_timeout=TIMEOUT,
    )
    assert len(by_invoice.payments) == 2
    one = api.get_payment(tenant, first.payment_id, _request_timeout=TIMEOUT).payments[0]
    assert one.reference == "portal:pay_1" and one.amount == Decimal("20.00")
