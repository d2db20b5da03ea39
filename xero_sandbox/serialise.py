"""Sandbox objects as Xero's JSON (PascalCase, /Date(ms+0000)/ dates, Decimal amounts)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from .money import ZERO, round_money
from .state import (
    Account,
    BankTransaction,
    BrandingTheme,
    Contact,
    HistoryRecord,
    Invoice,
    LineItem,
    Organisation,
    Payment,
    PaymentService,
    TaxRate,
)
from .xerojson import iso_date_string, ms_date, ms_timestamp


def envelope(
    collection: str, items: list[dict[str, Any]], now: float, **extra: Any
) -> dict[str, Any]:
    """Xero's response wrapper around a collection."""
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "Xero Sandbox",
        "DateTimeUTC": ms_timestamp(now),
        **extra,
        collection: items,
    }


def organisation_json(org: Organisation) -> dict[str, Any]:
    return {
        "OrganisationID": org.organisation_id,
        "APIKey": "",
        "Name": org.name,
        "LegalName": org.name,
        "PaysTax": True,
        "Version": org.version,
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_timestamp(org.created),
        "OrganisationEntityType": "COMPANY",
        "Timezone": "GMTSTANDARDTIME",
        "ShortCode": org.short_code,
        "Edition": "BUSINESS",
        "Class": "STANDARD",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def account_json(account: Account) -> dict[str, Any]:
    data = {
        "AccountID": account.account_id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.type,
        "TaxType": account.tax_type,
        "Class": account.account_class,
        "EnablePaymentsToAccount": account.enable_payments_to_account,
        "ShowInExpenseClaims": False,
        "ReportingCode": account.account_class[:3],
        "ReportingCodeName": account.account_class.title(),
        "HasAttachments": False,
        "UpdatedDateUTC": ms_timestamp(account.updated),
        "AddToWatchlist": False,
    }
    if account.description:
        data["Description"] = account.description
    if account.bank_account_number:
        data["BankAccountNumber"] = account.bank_account_number
        data["BankAccountType"] = "BANK"
    if account.system_account:
        data["SystemAccount"] = account.system_account
    return data


def tax_rate_json(rate: TaxRate) -> dict[str, Any]:
    return {
        "Name": rate.name,
        "TaxType": rate.tax_type,
        "ReportTaxType": rate.report_tax_type,
        "CanApplyToAssets": "ASSET" in rate.applies_to,
        "CanApplyToEquity": "EQUITY" in rate.applies_to,
        "CanApplyToExpenses": "EXPENSE" in rate.applies_to,
        "CanApplyToLiabilities": "LIABILITY" in rate.applies_to,
        "CanApplyToRevenue": "REVENUE" in rate.applies_to,
        "DisplayTaxRate": rate.rate,
        "EffectiveRate": rate.rate,
        "Status": rate.status,
        "TaxComponents": [
            {"Name": rate.name, "Rate": rate.rate, "IsCompound": False, "IsNonRecoverable": False}
        ],
    }


def branding_theme_json(theme: BrandingTheme) -> dict[str, Any]:
    return {
        "BrandingThemeID": theme.branding_theme_id,
        "Name": theme.name,
        "Type": "INVOICE",
        "SortOrder": theme.sort_order,
        "CreatedDateUTC": ms_timestamp(theme.created),
    }


def payment_service_json(service: PaymentService) -> dict[str, Any]:
    return {
        "PaymentServiceID": service.payment_service_id,
        "PaymentServiceName": service.name,
        "PaymentServiceUrl": service.url,
        "PayNowText": service.pay_now_text,
        "PaymentServiceType": service.type,
    }


#: What summaryOnly=true leaves out: the fields Xero computes or nests (its description calls
#: them "computation-heavy"): a contact's balances, an invoice's lines and allocations.
SUMMARY_OMITS = {
    "Contacts": frozenset({"Balances"}),
    "Invoices": frozenset({"LineItems", "Payments", "CreditNotes", "Prepayments", "Overpayments"}),
}


def summary(collection: str, item: dict[str, Any]) -> dict[str, Any]:
    omitted = SUMMARY_OMITS[collection]
    return {k: v for k, v in item.items() if k not in omitted}


def balances_by_contact(org: Organisation, today: date) -> dict[str, dict[str, Any]]:
    """Xero's read-only Contact.Balances, from the approved invoices of each contact.

    Outstanding is what AUTHORISED invoices still ask (AmountDue); Overdue the part of it
    past its DueDate on ``today`` (the sandbox clock's day). Contacts with no approved
    invoice get no Balances, which the portal shows as "Xero did not report a balance".
    """
    sides = {"ACCREC": "AccountsReceivable", "ACCPAY": "AccountsPayable"}
    found: dict[str, dict[str, Any]] = {}
    for invoice in org.invoices.values():
        side = sides.get(invoice.type)
        if side is None or invoice.status not in ("AUTHORISED", "PAID"):
            continue
        balances = found.setdefault(
            invoice.contact_id,
            {name: {"Outstanding": ZERO, "Overdue": ZERO} for name in sides.values()},
        )
        if invoice.status == "AUTHORISED":
            balances[side]["Outstanding"] += invoice.amount_due
            if invoice.due_date is not None and invoice.due_date < today:
                balances[side]["Overdue"] += invoice.amount_due
    return found


def contact_json(contact: Contact, balances: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ContactID": contact.contact_id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "IsSupplier": False,
        "IsCustomer": True,
        "HasAttachments": False,
        "HasValidationErrors": False,
        "UpdatedDateUTC": ms_timestamp(contact.updated),
    }
    for key, value in (
        ("ContactNumber", contact.contact_number),
        ("AccountNumber", contact.account_number),
        ("EmailAddress", contact.email_address),
        ("FirstName", contact.first_name),
        ("LastName", contact.last_name),
    ):
        if value is not None:
            data[key] = value
    if balances is not None:
        data["Balances"] = balances
    data.update(contact.extra)
    return data


def contact_summary_json(contact: Contact) -> dict[str, Any]:
    """The contact as Xero nests it inside invoices and payments."""
    data = {
        "ContactID": contact.contact_id,
        "Name": contact.name,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }
    if contact.contact_number:
        data["ContactNumber"] = contact.contact_number
    if contact.email_address:
        data["EmailAddress"] = contact.email_address
    return data


def _unit(amount: Decimal, unitdp: int) -> Decimal:
    return amount if unitdp == 4 else round_money(amount)


def line_item_json(item: LineItem, unitdp: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "LineItemID": item.line_item_id,
        "Description": item.description,
        "Quantity": item.quantity,
        "UnitAmount": _unit(item.unit_amount, unitdp),
        "TaxAmount": item.tax_amount,
        "LineAmount": item.line_amount,
        "Tracking": item.tracking,
    }
    if item.account_code:
        data["AccountCode"] = item.account_code
    if item.tax_type:
        data["TaxType"] = item.tax_type
    if item.item_code:
        data["ItemCode"] = item.item_code
    if item.discount_rate is not None:
        data["DiscountRate"] = item.discount_rate
    return data


def invoice_payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.date),
        "Amount": payment.amount,
        "Reference": payment.reference,
        "CurrencyRate": Decimal("1.000000"),
        "HasAccount": False,
        "HasValidationErrors": False,
    }


def invoice_json(org: Organisation, invoice: Invoice, unitdp: int = 2) -> dict[str, Any]:
    contact = org.contacts[invoice.contact_id]
    payments = [
        org.payments[pid] for pid in invoice.payment_ids if org.payments[pid].status != "DELETED"
    ]
    data: dict[str, Any] = {
        "Type": invoice.type,
        "InvoiceID": invoice.invoice_id,
        "InvoiceNumber": invoice.invoice_number,
        "Reference": invoice.reference,
        "Payments": [invoice_payment_json(p) for p in payments],
        "CreditNotes": [],
        "Prepayments": [],
        "Overpayments": [],
        "AmountDue": invoice.amount_due,
        "AmountPaid": invoice.amount_paid,
        "AmountCredited": Decimal("0.00"),
        "CurrencyRate": Decimal("1.000000"),
        "IsDiscounted": any(li.discount_rate for li in invoice.line_items),
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": contact_summary_json(contact),
        "DateString": iso_date_string(invoice.date),
        "Date": ms_date(invoice.date),
        "Status": invoice.status,
        "LineAmountTypes": invoice.line_amount_types,
        "LineItems": [line_item_json(li, unitdp) for li in invoice.line_items],
        "SubTotal": invoice.sub_total,
        "TotalTax": invoice.total_tax,
        "Total": invoice.total,
        "UpdatedDateUTC": ms_timestamp(invoice.updated),
        "CurrencyCode": invoice.currency_code,
        "SentToContact": invoice.sent_to_contact,
    }
    if invoice.due_date:
        data["DueDateString"] = iso_date_string(invoice.due_date)
        data["DueDate"] = ms_date(invoice.due_date)
    if invoice.expected_payment_date:
        data["ExpectedPaymentDate"] = ms_date(invoice.expected_payment_date)
    if invoice.branding_theme_id:
        data["BrandingThemeID"] = invoice.branding_theme_id
    if invoice.url:
        data["Url"] = invoice.url
    if invoice.fully_paid_on:
        data["FullyPaidOnDate"] = ms_date(invoice.fully_paid_on)
    return data


def payment_json(org: Organisation, payment: Payment, full_invoice: bool = False) -> dict[str, Any]:
    """A payment; its invoice in short as GET /Payments lists it, or (``full_invoice``) in
    full, as Xero's answers to GET /Payments/{id} and to payment writes carry it: status,
    amounts due and paid, dates, lines and totals."""
    invoice = org.invoices[payment.invoice_id]
    account = org.accounts[payment.account_id]
    contact = org.contacts[invoice.contact_id]
    data = {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.date),
        "BankAmount": payment.amount,
        "Amount": payment.amount,
        "Reference": payment.reference,
        "CurrencyRate": Decimal("1.000000"),
        "PaymentType": "ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
        "Status": payment.status,
        "UpdatedDateUTC": ms_timestamp(payment.updated),
        "HasAccount": True,
        "IsReconciled": payment.is_reconciled,
        "HasValidationErrors": False,
        "Account": {"AccountID": account.account_id, "Code": account.code, "Name": account.name},
        "Invoice": {
            "Type": invoice.type,
            "InvoiceID": invoice.invoice_id,
            "InvoiceNumber": invoice.invoice_number,
            "Contact": contact_summary_json(contact),
            "CurrencyCode": invoice.currency_code,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "HasErrors": False,
            "IsDiscounted": False,
            "LineItems": [],
        },
    }
    if full_invoice:
        data["Invoice"] = invoice_json(org, invoice)
    return data


def history_json(record: HistoryRecord) -> dict[str, Any]:
    return {
        "Changes": record.changes,
        "DateUTCString": _iso_timestamp(record.at),
        "DateUTC": ms_timestamp(record.at),
        "User": record.user,
        "Details": record.details,
    }


def _iso_timestamp(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def bank_transaction_json(org: Organisation, transaction: BankTransaction) -> dict[str, Any]:
    account = org.account_by_code(transaction.bank_account_code)
    contact = org.contacts.get(transaction.contact_id or "")
    data: dict[str, Any] = {
        "BankTransactionID": transaction.bank_transaction_id,
        "Type": transaction.type,
        "Contact": contact_summary_json(contact)
        if contact is not None
        else {"Name": transaction.contact_name},
        "BankAccount": {
            "AccountID": account.account_id if account else None,
            "Code": transaction.bank_account_code,
            "Name": account.name if account else "",
        },
        "LineItems": [
            {
                "Description": transaction.description,
                "LineAmount": transaction.amount,
                **({"AccountCode": transaction.account_code} if transaction.account_code else {}),
            }
        ],
        "LineAmountTypes": "NoTax",
        "SubTotal": transaction.amount,
        "TotalTax": Decimal("0.00"),
        "Total": transaction.amount,
        "Date": ms_date(transaction.date),
        "Reference": transaction.reference,
        "Status": transaction.status,
        "IsReconciled": False,
        "CurrencyCode": org.base_currency,
        "UpdatedDateUTC": ms_timestamp(transaction.updated),
        "HasAttachments": False,
    }
    if transaction.overpayment_id:
        data["OverpaymentID"] = transaction.overpayment_id
    return data
