"""Local objects as xero-python models, and the fields read back from Xero's answers."""

from __future__ import annotations

from xero_python.accounting import (
    Address,
    Contact,
    CurrencyCode,
    LineAmountTypes,
    LineItem,
    Phone,
)
from xero_python.accounting import (
    Invoice as XeroInvoice,
)

from billing.customers import Customer
from billing.invoices import Invoice

#: Xero's Contact.Name limit; longer names are refused.
MAX_CONTACT_NAME = 255


def contact_for(
    customer: Customer, contact_id: str | None = None, *, with_name: bool = True
) -> Contact:
    """``with_name=False`` leaves the Xero contact's name as it is (Xero keeps a field the
    request leaves out): an update while "Keep client names in sync" is off."""
    lines = [line.strip() for line in customer.address.splitlines() if line.strip()]
    return Contact(
        contact_id=contact_id,
        name=customer.name[:MAX_CONTACT_NAME] if with_name else None,
        contact_number=customer.ledger_code or None,
        email_address=customer.email or None,
        addresses=[
            Address(
                address_type="POBOX",
                address_line1=lines[0] if lines else None,
                address_line2=", ".join(lines[1:]) or None,
            )
        ]
        if lines
        else None,
        phones=[Phone(phone_type="DEFAULT", phone_number=customer.phone)]
        if customer.phone
        else None,
        is_customer=True,
    )


def invoice_for(
    invoice: Invoice,
    *,
    contact_id: str,
    tax_types: dict[int, str],
    branding_theme_id: str | None,
    xero_invoice_id: str | None = None,
) -> XeroInvoice:
    return XeroInvoice(
        invoice_id=xero_invoice_id,
        type="ACCREC",
        contact=Contact(contact_id=contact_id),
        invoice_number=invoice.number,
        reference=invoice.reference or None,
        date=invoice.issue_date,
        due_date=invoice.due_date,
        expected_payment_date=invoice.expected_payment_date,
        line_amount_types=LineAmountTypes(invoice.line_amount_type),
        currency_code=CurrencyCode(invoice.currency),
        status="AUTHORISED",
        branding_theme_id=branding_theme_id or None,
        line_items=[
            LineItem(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_price,
                account_code=line.account_code,
                tax_type=tax_types[line.tax_rate_id],
            )
            for line in invoice.lines
        ],
    )


def void_for(xero_invoice_id: str, status: str = "VOIDED") -> XeroInvoice:
    """Only the id and the new status: VOIDED for issued invoices, DELETED for drafts."""
    return XeroInvoice(invoice_id=xero_invoice_id, status=status)


def element_errors(element) -> list[str]:
    """The ValidationErrors xero-python attached to one element of a batch answer."""
    errors = getattr(element, "validation_errors", None) or []
    return [e.message for e in errors if getattr(e, "message", None)]
