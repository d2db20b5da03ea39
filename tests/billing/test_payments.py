"""Payments from either side: recorded once, never moved backwards."""

from datetime import date
from decimal import Decimal

import pytest

from billing.errors import InvoiceNotEditable, Overpayment
from billing.invoices.model import InvoiceStatus, PaymentSource
from billing.payments.operations import find_payment, record_payment, record_refund, reverse_payment
from tests.factories import CustomerFactory, ServiceFactory, make_invoice

TODAY = date(2026, 11, 20)


@pytest.fixture
def invoice(db):
    service = ServiceFactory(unit_price=Decimal("50.00"))  # 60.00 with 20% tax
    return make_invoice(db, CustomerFactory(), [(service, "1")])


def pay(db, invoice, amount, **ids):
    return record_payment(db, invoice, amount=Decimal(amount), paid_on=TODAY, method="card", **ids)


def test_the_same_gateway_payment_is_recorded_once(db, invoice):
    first = pay(db, invoice, "20.00", gateway_payment_id="pi_1")
    again = pay(db, invoice, "20.00", gateway_payment_id="pi_1")
    assert again is first
    assert invoice.amount_paid == Decimal("20.00")
    assert len(invoice.payments) == 1


def test_a_portal_payment_read_back_from_xero_is_recorded_once(db, invoice):
    pushed = pay(db, invoice, "60.00", gateway_payment_id="pi_2")
    pushed.xero_payment_id = "6a3c7d0e-0000-4000-8000-000000000001"  # the push stored it
    db.flush()
    read_back = record_payment(
        db,
        invoice,
        amount=Decimal("60.00"),
        paid_on=TODAY,
        method="xero",
        source=PaymentSource.XERO,
        xero_payment_id="6a3c7d0e-0000-4000-8000-000000000001",
    )
    assert read_back is pushed
    assert invoice.state is InvoiceStatus.PAID
    assert find_payment(db, xero_payment_id=pushed.xero_payment_id) is pushed


def test_overpayment_is_refused_and_changes_nothing(db, invoice):
    revision = invoice.payment_revision
    with pytest.raises(Overpayment):
        pay(db, invoice, "60.01")
    assert invoice.amount_paid == Decimal("0.00")
    assert invoice.payment_revision == revision
    assert invoice.payments == []


def test_partial_then_full_payment(db, invoice):
    pay(db, invoice, "10.00")
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.amount_due == Decimal("50.00")
    pay(db, invoice, "50.00")
    assert invoice.state is InvoiceStatus.PAID
    with pytest.raises(InvoiceNotEditable):
        pay(db, invoice, "1.00")


def test_refunds_only_grow_and_reopen_a_paid_invoice(db, invoice):
    payment = pay(db, invoice, "60.00", gateway_payment_id="pi_3")
    assert invoice.state is InvoiceStatus.PAID
    assert record_refund(db, payment, Decimal("15.00")) is True
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.amount_due == Decimal("15.00")
    # An older event with a smaller running total arrives late: nothing moves back.
    assert record_refund(db, payment, Decimal("5.00")) is False
    assert payment.amount_refunded == Decimal("15.00")
    # More than was paid is capped at the payment.
    assert record_refund(db, payment, Decimal("99.00")) is True
    assert payment.amount_refunded == Decimal("60.00")
    assert invoice.amount_due == Decimal("60.00")


def test_reversal_is_idempotent(db, invoice):
    payment = pay(db, invoice, "60.00")
    revision = invoice.payment_revision
    assert reverse_payment(db, payment) is True
    assert reverse_payment(db, payment) is False
    assert invoice.amount_paid == Decimal("0.00")
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.payment_revision == revision + 1
    assert record_refund(db, payment, Decimal("10")) is False
