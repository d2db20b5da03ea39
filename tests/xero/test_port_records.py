"""xero-python's models read back once, inside the port: statuses as plain text, money as
Decimal, missing ids as "", and each element's ValidationErrors on its record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum

from xero_python.accounting import Invoice, Payment, ValidationError

from xero.api import sdk_models
from xero.api.records import ContactDetails


class _Status(Enum):
    PAID = "PAID"


def test_an_invoice_reads_back_with_plain_statuses_and_decimal_money():
    model = Invoice(invoice_id="inv-1", invoice_number="INV-1", total=Decimal("89.82"))
    model._status = _Status.PAID  # the SDK gives some statuses as enums
    model.payments = [Payment(payment_id="p-1", amount=Decimal("89.82"), date=date(2026, 1, 2))]
    found = sdk_models.invoice(model)
    assert found.status == "PAID"
    assert found.total == Decimal("89.82")
    assert found.amount_paid == Decimal(0)
    [payment] = found.payments
    assert (payment.payment_id, payment.invoice_id, payment.status) == ("p-1", "", "")
    assert payment.amount == Decimal("89.82") and payment.reference == ""


def test_element_errors_come_back_on_the_record():
    model = Payment(amount=Decimal("5"))
    model.validation_errors = [ValidationError(message="Payment amount exceeds the amount")]
    assert sdk_models.payment(model).errors == ("Payment amount exceeds the amount",)


def test_a_contact_is_written_with_one_pobox_address_and_a_name_xero_accepts():
    model = sdk_models.contact_model(
        ContactDetails(name="N" * 300, code="C1", email=None, address_lines=("1 St", "Town", "X"))
    )
    assert len(model.name) == 255
    [address] = model.addresses
    assert (address.address_type, address.address_line1, address.address_line2) == (
        "POBOX",
        "1 St",
        "Town, X",
    )
    assert model.phones is None and model.is_customer is True


def test_a_name_of_none_leaves_the_xero_contacts_name_alone():
    model = sdk_models.contact_model(ContactDetails(name=None, code=None, email="a@b.c"))
    assert model.name is None and model.addresses is None
