"""The invoice state machine: every legal move works, every illegal one raises a named error,
and asking for the state an invoice already has changes nothing."""

from datetime import date
from decimal import Decimal
from itertools import product

import pytest

from billing.errors import IllegalTransition, InvoiceNotEditable, Overpayment
from billing.invoices.model import TRANSITIONS, Invoice, InvoiceStatus
from billing.invoices.operations import delete_draft, issue_invoice, void_invoice
from billing.payments.operations import record_payment
from tests.factories import CustomerFactory, ServiceFactory, make_invoice

ALL = list(InvoiceStatus)


@pytest.mark.parametrize(("current", "requested"), list(product(ALL, ALL)))
def test_transition_table(current, requested):
    invoice = Invoice(status=current)
    if requested is current:
        assert invoice.move_to(requested) is False
        assert invoice.state is current
    elif requested in TRANSITIONS[current]:
        assert invoice.move_to(requested) is True
        assert invoice.state is requested
    else:
        with pytest.raises(IllegalTransition) as raised:
            invoice.move_to(requested)
        assert raised.value.current == current.label.lower()
        assert invoice.state is current


def test_voided_and_deleted_are_final():
    assert TRANSITIONS[InvoiceStatus.VOIDED] == frozenset()
    assert TRANSITIONS[InvoiceStatus.DELETED] == frozenset()


def test_issue_numbers_and_is_idempotent(db):
    invoice = make_invoice(db, CustomerFactory(), issue=False)
    assert invoice.number is None
    issue_invoice(db, invoice, prefix="T-", today=date.today())
    number = invoice.number
    assert number == "T-00001"
    issue_invoice(db, invoice, prefix="T-", today=date.today())
    assert invoice.number == number
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT


def test_voided_invoice_cannot_be_issued(db):
    invoice = make_invoice(db, CustomerFactory())
    void_invoice(db, invoice)
    with pytest.raises(IllegalTransition):
        issue_invoice(db, invoice, prefix="INV-", today=date.today())


def test_issued_invoice_cannot_be_deleted(db):
    invoice = make_invoice(db, CustomerFactory())
    with pytest.raises(IllegalTransition):
        delete_draft(db, invoice)


def test_draft_cannot_be_voided(db):
    invoice = make_invoice(db, CustomerFactory(), issue=False)
    with pytest.raises(IllegalTransition):
        void_invoice(db, invoice)


def test_payments_move_to_paid_and_refuse_overpayment(db):
    service = ServiceFactory(unit_price=Decimal("50.00"))  # 50 + 20% = 60.00
    invoice = make_invoice(db, CustomerFactory(), [(service, "1")])
    assert invoice.total == Decimal("60.00")
    with pytest.raises(Overpayment):
        record_payment(db, invoice, amount=Decimal("60.01"), paid_on=date.today(), method="manual")
    record_payment(db, invoice, amount=Decimal("20.00"), paid_on=date.today(), method="manual")
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.amount_due == Decimal("40.00")
    with pytest.raises(InvoiceNotEditable):
        void_invoice(db, invoice)
    record_payment(db, invoice, amount=Decimal("40.00"), paid_on=date.today(), method="manual")
    assert invoice.state is InvoiceStatus.PAID
    assert invoice.amount_due == Decimal("0.00")
    with pytest.raises(InvoiceNotEditable):
        record_payment(db, invoice, amount=Decimal("1"), paid_on=date.today(), method="manual")
