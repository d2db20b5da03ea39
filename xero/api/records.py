"""What the portal sends to Xero and reads back, in the portal's own terms.

The port (``xero.api.port``) takes and returns only these: money is Decimal, statuses are
plain upper-case strings (xero-python gives some as enums, some as strings), dates are
dates, ids are strings ("" when Xero sent none). Nothing outside ``xero.api`` builds or reads
an xero-python model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

#: Xero's ValidationErrors on one element of a batch write (empty when it was accepted).
Errors = tuple[str, ...]


# -- contacts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactDetails:
    """A contact as the portal writes it. ``None`` leaves Xero's value as it is (Xero keeps a
    field the request leaves out): a name of None keeps the Xero contact's name."""

    name: str | None
    code: str | None
    email: str | None
    #: Written as one POBOX address: the first line, then the others joined by commas.
    address_lines: tuple[str, ...] = ()
    phone: str | None = None
    #: The Xero contact to update; None creates one.
    contact_id: str | None = None


@dataclass(frozen=True)
class ContactAddress:
    address_type: str = ""
    attention_to: str = ""
    line1: str = ""
    line2: str = ""
    line3: str = ""
    line4: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class XeroContact:
    contact_id: str
    name: str
    #: Xero's ContactNumber: the portal's ledger code.
    code: str
    email: str
    #: ACTIVE, ARCHIVED or GDPRREQUEST; "" when Xero did not say.
    status: str = ""
    addresses: tuple[ContactAddress, ...] = ()
    #: Balances.AccountsReceivable; None when Xero did not send them.
    outstanding: Decimal | None = None
    overdue: Decimal | None = None
    errors: Errors = ()


# -- invoices and payments --------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLineDraft:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str
    tax_type: str


@dataclass(frozen=True)
class InvoiceDraft:
    """A sales invoice (ACCREC) as the portal sends it: always AUTHORISED."""

    number: str | None
    reference: str | None
    issue_date: date
    due_date: date
    expected_payment_date: date | None
    #: Exclusive, Inclusive or NoTax.
    line_amount_type: str
    currency: str
    contact_id: str
    branding_theme_id: str | None
    lines: tuple[InvoiceLineDraft, ...]
    #: The Xero invoice to update; None creates one.
    xero_invoice_id: str | None = None


@dataclass(frozen=True)
class XeroPayment:
    payment_id: str
    #: The Xero invoice it pays ("" when Xero did not say).
    invoice_id: str
    #: AUTHORISED or DELETED; "" for the payments an invoice lists (those stand).
    status: str
    amount: Decimal
    date: date | None
    reference: str = ""
    errors: Errors = ()


@dataclass(frozen=True)
class XeroInvoice:
    invoice_id: str
    number: str
    #: DRAFT, SUBMITTED, AUTHORISED, PAID, VOIDED or DELETED.
    status: str
    total: Decimal | None = None
    amount_paid: Decimal = Decimal(0)
    amount_due: Decimal = Decimal(0)
    #: The standing payments, when Xero listed them (reads of whole invoices).
    payments: tuple[XeroPayment, ...] = ()
    errors: Errors = ()


@dataclass(frozen=True)
class PaymentDraft:
    invoice_id: str
    #: The account the money went into (the payments account of the Xero settings).
    account_code: str
    amount: Decimal
    paid_on: date
    reference: str


@dataclass(frozen=True)
class CreditDraft:
    """Money kept as the contact's credit: a RECEIVE-OVERPAYMENT bank transaction, NoTax."""

    contact_id: str
    account_code: str
    paid_on: date
    reference: str
    description: str
    amount: Decimal


@dataclass(frozen=True)
class XeroCredit:
    bank_transaction_id: str
    #: The overpayment Xero made of it ("" before it did).
    overpayment_id: str
    status: str
    contact_id: str
    total: Decimal
    errors: Errors = ()


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    name: str
    country_code: str
    base_currency: str


@dataclass(frozen=True)
class LedgerAccount:
    code: str
    name: str
    type: str
    #: ASSET, EQUITY, EXPENSE, LIABILITY or REVENUE.
    account_class: str
    status: str
    enable_payments: bool
    system_account: str


@dataclass(frozen=True)
class XeroTaxRateRecord:
    tax_type: str
    name: str
    #: The effective rate (else the displayed one); None when Xero sent neither or nonsense.
    rate: Decimal | None
    status: str
    #: The account classes Xero lets it be used with (CanApplyTo...).
    applies_to: frozenset[str]


@dataclass(frozen=True)
class BrandingTheme:
    theme_id: str
    name: str


# -- identity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantedTenant:
    """One organisation (or practice) a consent granted, as Xero's /connections lists it."""

    connection_id: str
    tenant_id: str
    tenant_name: str
    tenant_type: str
