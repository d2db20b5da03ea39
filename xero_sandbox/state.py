"""What a Xero organisation holds, as plain Python objects.

Everything here is guarded by ``Sandbox.lock``; the objects themselves are dumb records.
Field names follow Xero's (in snake_case) so the mapping to JSON in ``serialise.py`` stays
obvious.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .money import ZERO


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Account:
    account_id: str
    code: str
    name: str
    #: Xero's account type: BANK, REVENUE, SALES, OTHERINCOME, EXPENSE, CURRENT, CURRLIAB...
    type: str
    #: REVENUE, EXPENSE, ASSET, LIABILITY or EQUITY; decides which tax rates fit.
    account_class: str
    tax_type: str
    enable_payments_to_account: bool = False
    bank_account_number: str | None = None
    #: DEBTORS, CREDITORS, GST... for accounts Xero keeps for itself.
    system_account: str | None = None
    status: str = "ACTIVE"
    description: str = ""
    updated: float = 0.0


@dataclass
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal
    #: Account classes this rate may be used with (Xero's CanApplyTo... flags).
    applies_to: frozenset[str]
    report_tax_type: str
    status: str = "ACTIVE"

    @property
    def is_sales_rate(self) -> bool:
        return "REVENUE" in self.applies_to


@dataclass
class PaymentService:
    payment_service_id: str
    name: str
    url: str
    pay_now_text: str = "Pay now"
    type: str = "Custom"
    #: Where "Pay now" payments land (the account chosen when the service was linked).
    account_code: str = "090"
    #: The service's fee per payment (Stripe UK cards: 1.5% + 20p), kept as a spend-money
    #: transaction on the same account, charged to ``fee_account_code``.
    fee_percent: Decimal = Decimal("1.5")
    fee_fixed: Decimal = Decimal("0.20")
    fee_account_code: str = "404"


@dataclass
class BrandingTheme:
    branding_theme_id: str
    name: str
    sort_order: int
    created: float
    payment_services: list[PaymentService] = field(default_factory=list)


@dataclass
class HistoryRecord:
    changes: str
    details: str
    user: str
    at: float


@dataclass
class Contact:
    contact_id: str
    name: str
    updated: float
    contact_number: str | None = None
    account_number: str | None = None
    email_address: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    status: str = "ACTIVE"
    #: Other writable fields (Addresses, Phones, TaxNumber...) kept as sent and echoed back.
    extra: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)


@dataclass
class LineItem:
    line_item_id: str
    description: str
    quantity: Decimal
    #: Kept at up to 4 places; shown at 2 unless the caller asks for unitdp=4.
    unit_amount: Decimal
    line_amount: Decimal
    tax_amount: Decimal
    account_code: str | None = None
    tax_type: str | None = None
    item_code: str | None = None
    discount_rate: Decimal | None = None
    tracking: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Invoice:
    invoice_id: str
    type: str
    contact_id: str
    invoice_number: str
    status: str
    date: datetime.date
    due_date: datetime.date | None
    line_amount_types: str
    currency_code: str
    line_items: list[LineItem]
    created: float
    updated: float
    reference: str = ""
    branding_theme_id: str | None = None
    url: str | None = None
    #: When the customer says it will pay (sales invoices); kept as sent, shown in Xero.
    expected_payment_date: datetime.date | None = None
    sent_to_contact: bool = False
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    amount_paid: Decimal = ZERO
    fully_paid_on: datetime.date | None = None
    payment_ids: list[str] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid


@dataclass
class Payment:
    payment_id: str
    invoice_id: str
    account_id: str
    amount: Decimal
    date: datetime.date
    reference: str
    updated: float
    status: str = "AUTHORISED"
    is_reconciled: bool = False
    history: list[HistoryRecord] = field(default_factory=list)


@dataclass
class BankTransaction:
    """Spend or receive money on a bank account: a payment service's fee, or money received
    from a contact beyond what it owes (RECEIVE-OVERPAYMENT: a credit on the contact)."""

    bank_transaction_id: str
    #: SPEND or RECEIVE
    type: str
    bank_account_code: str
    contact_name: str
    description: str
    account_code: str
    amount: Decimal
    date: datetime.date
    reference: str
    updated: float
    status: str = "AUTHORISED"
    #: The contact's id, for transactions made for one (overpayments).
    contact_id: str | None = None
    #: Xero's OverpaymentID, on RECEIVE-OVERPAYMENT transactions.
    overpayment_id: str | None = None


@dataclass
class SentEmail:
    invoice_id: str
    to: str
    at: float


@dataclass
class Organisation:
    organisation_id: str
    name: str
    country_code: str
    base_currency: str
    short_code: str
    #: Xero's organisation Version: UK, AU, NZ, GLOBAL...
    version: str
    created: float
    #: Default sales tax for lines whose account has none.
    default_sales_tax: str = "NONE"
    accounts: dict[str, Account] = field(default_factory=dict)
    tax_rates: dict[str, TaxRate] = field(default_factory=dict)
    branding_themes: dict[str, BrandingTheme] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    bank_transactions: dict[str, BankTransaction] = field(default_factory=dict)
    sent_emails: list[SentEmail] = field(default_factory=list)
    next_invoice_number: int = 1

    @property
    def tenant_id(self) -> str:
        # Xero's tenantId for an organisation is its OrganisationID.
        return self.organisation_id

    def account_by_code(self, code: str | None) -> Account | None:
        if not code:
            return None
        return next((a for a in self.accounts.values() if a.code == code), None)

    def account_by_reference(self, reference: object) -> Account | None:
        """The account a write names, as ``{"AccountID": ...}`` or ``{"Code": ...}``."""
        if not isinstance(reference, dict):
            return None
        if reference.get("AccountID"):
            return self.accounts.get(str(reference["AccountID"]).lower())
        if reference.get("Code"):
            return self.account_by_code(str(reference["Code"]))
        return None

    def contact_by_name(self, name: str) -> Contact | None:
        wanted = name.strip().casefold()
        return next(
            (
                c
                for c in self.contacts.values()
                if c.status == "ACTIVE" and c.name.strip().casefold() == wanted
            ),
            None,
        )

    def invoice_by_number(self, number: str) -> Invoice | None:
        return next(
            (
                i
                for i in self.invoices.values()
                if i.invoice_number == number and i.status != "DELETED"
            ),
            None,
        )

    def default_branding_theme(self) -> BrandingTheme | None:
        themes = sorted(self.branding_themes.values(), key=lambda t: t.sort_order)
        return themes[0] if themes else None
