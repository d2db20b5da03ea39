"""The portal's records (``xero.api.records``) as xero-python models, and back.

Only the adapter (``xero.api.client``) uses this. Reading back normalises once what the SDK
gives in more than one shape: statuses as enums or strings, amounts as Decimal or float,
missing ids as None.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from xero_python.accounting import (
    Account,
    Address,
    BankTransaction,
    Contact,
    CurrencyCode,
    HistoryRecord,
    HistoryRecords,
    LineAmountTypes,
    LineItem,
    Payment,
    Phone,
)
from xero_python.accounting import Invoice as SdkInvoice

from xero.api.records import (
    BrandingTheme,
    ContactAddress,
    ContactDetails,
    CreditDraft,
    Errors,
    InvoiceDraft,
    LedgerAccount,
    Organisation,
    PaymentDraft,
    XeroContact,
    XeroCredit,
    XeroInvoice,
    XeroPayment,
    XeroTaxRateRecord,
)

#: Xero's Contact.Name limit; longer names are refused.
MAX_CONTACT_NAME = 255
#: Xero's limit on a history note's Details.
MAX_HISTORY_DETAILS = 2500
CREDIT_TYPE = "RECEIVE-OVERPAYMENT"
#: Xero's CanApplyTo... flags, by account class.
CLASS_FLAGS = {
    "ASSET": "can_apply_to_assets",
    "EQUITY": "can_apply_to_equity",
    "EXPENSE": "can_apply_to_expenses",
    "LIABILITY": "can_apply_to_liabilities",
    "REVENUE": "can_apply_to_revenue",
}


def text(value: Any) -> str:
    """xero-python gives some enums and some strings; both become plain text ("" for None)."""
    value = getattr(value, "value", value)
    return "" if value is None else str(value)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _optional_money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def element_errors(element: Any) -> Errors:
    """The ValidationErrors xero-python attached to one element of a batch answer."""
    errors = getattr(element, "validation_errors", None) or []
    return tuple(e.message for e in errors if getattr(e, "message", None))


# -- to the SDK -----------------------------------------------------------------------------


def contact_model(details: ContactDetails) -> Contact:
    lines = details.address_lines
    return Contact(
        contact_id=details.contact_id,
        name=details.name[:MAX_CONTACT_NAME] if details.name is not None else None,
        contact_number=details.code,
        email_address=details.email,
        addresses=[
            Address(
                address_type="POBOX",
                address_line1=lines[0] if lines else None,
                address_line2=", ".join(lines[1:]) or None,
            )
        ]
        if lines
        else None,
        phones=[Phone(phone_type="DEFAULT", phone_number=details.phone)] if details.phone else None,
        is_customer=True,
    )


def history_model(text_: str) -> HistoryRecords:
    return HistoryRecords(history_records=[HistoryRecord(details=text_[:MAX_HISTORY_DETAILS])])


def invoice_model(draft: InvoiceDraft) -> SdkInvoice:
    return SdkInvoice(
        invoice_id=draft.xero_invoice_id,
        type="ACCREC",
        contact=Contact(contact_id=draft.contact_id),
        invoice_number=draft.number,
        reference=draft.reference,
        date=draft.issue_date,
        due_date=draft.due_date,
        expected_payment_date=draft.expected_payment_date,
        line_amount_types=LineAmountTypes(draft.line_amount_type),
        currency_code=CurrencyCode(draft.currency),
        status="AUTHORISED",
        branding_theme_id=draft.branding_theme_id,
        line_items=[
            LineItem(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                account_code=line.account_code,
                tax_type=line.tax_type,
            )
            for line in draft.lines
        ],
    )


def status_model(xero_invoice_id: str, status: str) -> SdkInvoice:
    """Only the id and the new status."""
    return SdkInvoice(invoice_id=xero_invoice_id, status=status)


def payment_model(draft: PaymentDraft) -> Payment:
    return Payment(
        invoice=SdkInvoice(invoice_id=draft.invoice_id),
        account=Account(code=draft.account_code),
        amount=draft.amount,
        date=draft.paid_on,
        reference=draft.reference,
    )


def credit_model(draft: CreditDraft) -> BankTransaction:
    return BankTransaction(
        type=CREDIT_TYPE,
        contact=Contact(contact_id=draft.contact_id),
        bank_account=Account(code=draft.account_code),
        date=draft.paid_on,
        reference=draft.reference,
        line_amount_types=LineAmountTypes.NOTAX,
        line_items=[LineItem(description=draft.description, line_amount=draft.amount)],
    )


# -- from the SDK ---------------------------------------------------------------------------


def _address(address: Any) -> ContactAddress:
    return ContactAddress(
        address_type=text(address.address_type),
        attention_to=text(address.attention_to),
        line1=text(address.address_line1),
        line2=text(address.address_line2),
        line3=text(address.address_line3),
        line4=text(address.address_line4),
        city=text(address.city),
        region=text(address.region),
        postal_code=text(address.postal_code),
        country=text(address.country),
    )


def contact(model: Any) -> XeroContact:
    receivable = getattr(getattr(model, "balances", None), "accounts_receivable", None)
    return XeroContact(
        contact_id=text(model.contact_id),
        name=text(model.name),
        code=text(model.contact_number),
        email=text(model.email_address),
        status=text(getattr(model, "contact_status", None)),
        addresses=tuple(_address(a) for a in model.addresses or []),
        outstanding=_optional_money(getattr(receivable, "outstanding", None)),
        overdue=_optional_money(getattr(receivable, "overdue", None)),
        errors=element_errors(model),
    )


def payment(model: Any) -> XeroPayment:
    invoice = getattr(model, "invoice", None)
    return XeroPayment(
        payment_id=text(model.payment_id),
        invoice_id=text(invoice.invoice_id) if invoice is not None else "",
        status=text(getattr(model, "status", None)),
        amount=_money(model.amount),
        date=model.date,
        reference=text(model.reference),
        errors=element_errors(model),
    )


def invoice(model: Any) -> XeroInvoice:
    return XeroInvoice(
        invoice_id=text(model.invoice_id),
        number=text(model.invoice_number),
        status=text(model.status),
        total=_optional_money(model.total),
        amount_paid=_money(model.amount_paid),
        amount_due=_money(model.amount_due),
        payments=tuple(payment(p) for p in model.payments or []),
        errors=element_errors(model),
    )


def credit(model: Any) -> XeroCredit:
    contact_model_ = getattr(model, "contact", None)
    return XeroCredit(
        bank_transaction_id=text(model.bank_transaction_id),
        overpayment_id=text(model.overpayment_id),
        status=text(model.status),
        contact_id=text(contact_model_.contact_id) if contact_model_ is not None else "",
        total=_money(model.total),
        errors=element_errors(model),
    )


def organisation(model: Any) -> Organisation:
    return Organisation(
        name=text(model.name),
        country_code=text(model.country_code),
        base_currency=text(model.base_currency),
    )


def account(model: Any) -> LedgerAccount:
    return LedgerAccount(
        code=text(model.code),
        name=text(model.name),
        type=text(model.type),
        account_class=text(model._class),
        status=text(model.status),
        enable_payments=bool(model.enable_payments_to_account),
        system_account=text(model.system_account),
    )


def _rate(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def tax_rate(model: Any) -> XeroTaxRateRecord:
    rate = model.effective_rate if model.effective_rate is not None else model.display_tax_rate
    return XeroTaxRateRecord(
        tax_type=text(model.tax_type),
        name=text(model.name),
        rate=_rate(rate),
        status=text(model.status),
        applies_to=frozenset(
            account_class
            for account_class, flag in CLASS_FLAGS.items()
            if getattr(model, flag, False)
        ),
    )


def branding_theme(model: Any) -> BrandingTheme:
    return BrandingTheme(text(model.branding_theme_id), text(model.name))


def service_names(models: Sequence[Any]) -> tuple[str, ...]:
    return tuple(text(s.payment_service_name) for s in models)
