"""The Xero operations the portal uses, as one typed interface (like ``billing.cards.gateways``
for cards): each takes and returns the portal's own records (``xero.api.records``).

The adapter is ``xero.api.client.XeroApi``, over xero-python. Tests point it at the local
sandbox, so there is no in-process fake: the same code talks to Xero and to the stand-in.

Errors are those of ``xero.api.errors``. A write whose answer was lost raises ``Retryable``
with ``outcome_unknown`` set. Batch writes go with summarizeErrors=false: each element
comes back with its own ValidationErrors (``errors``), for the caller to put on its job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from xero.api.records import (
    BrandingTheme,
    ContactDetails,
    CreditDraft,
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

#: (connect, read) seconds. Reads of big pages can take Xero a while.
DEFAULT_TIMEOUT = (5, 30)


class XeroPort(Protocol):
    """One organisation's Accounting API."""

    tenant_id: str

    # -- contacts
    def get_contact(self, contact_id: str) -> list[XeroContact]: ...

    def find_contacts(
        self,
        where: str | None = None,
        *,
        search_term: str | None = None,
        first_page: bool = False,
        summary_only: bool = False,
    ) -> list[XeroContact]:
        """GET /Contacts with Xero's ``where`` filter or ``searchTerm``; ``first_page``
        asks for page 1 only (100 contacts)."""
        ...

    def create_contacts(
        self, contacts: Sequence[ContactDetails], *, idempotency_key: str
    ) -> list[XeroContact]: ...

    def update_contacts(
        self, contacts: Sequence[ContactDetails], *, idempotency_key: str
    ) -> list[XeroContact]: ...

    def add_contact_history(
        self, contact_id: str, text: str, *, idempotency_key: str | None = None
    ) -> None: ...

    # -- invoices
    def put_invoices(
        self, invoices: Sequence[InvoiceDraft], *, idempotency_key: str
    ) -> list[XeroInvoice]:
        """Create or update (by InvoiceID) AUTHORISED invoices."""
        ...

    def set_invoice_status(
        self, xero_invoice_ids: Sequence[str], status: str, *, idempotency_key: str
    ) -> list[XeroInvoice]:
        """VOIDED for issued invoices, DELETED for drafts."""
        ...

    def get_invoice(self, xero_invoice_id: str) -> XeroInvoice | None: ...

    def get_invoices_by_ids(self, xero_invoice_ids: Sequence[str]) -> list[XeroInvoice]:
        """Whole invoices, with their standing payments (one page: at most 100 ids)."""
        ...

    def get_invoices_by_numbers(self, numbers: Sequence[str]) -> list[XeroInvoice]:
        """Summaries (no lines, no payments)."""
        ...

    def get_invoices_page(
        self,
        page: int,
        page_size: int,
        *,
        where: str,
        modified_since: datetime | None = None,
    ) -> list[XeroInvoice]:
        """One page of invoice summaries."""
        ...

    def get_invoices_of_contacts(
        self, contact_ids: Sequence[str], page: int, page_size: int
    ) -> list[XeroInvoice]:
        """One page of the sales invoice summaries of these contacts (GET /Invoices with
        ``ContactIDs``)."""
        ...

    def online_invoice_url(self, xero_invoice_id: str) -> str: ...

    def email_invoice(self, xero_invoice_id: str, *, idempotency_key: str) -> None: ...

    # -- payments
    def create_payments(
        self, payments: Sequence[PaymentDraft], *, idempotency_key: str
    ) -> list[XeroPayment]: ...

    def delete_payment(self, xero_payment_id: str, *, idempotency_key: str) -> None: ...

    def get_payments(self, where: str) -> list[XeroPayment]:
        """Payments by Xero's ``where`` filter, deleted ones too."""
        ...

    def get_payments_page(
        self, page: int, page_size: int, *, modified_since: datetime | None = None
    ) -> list[XeroPayment]: ...

    # -- credits (overpayments kept as the contact's credit)
    def find_credits(self, where: str) -> list[XeroCredit]: ...

    def create_credit(self, credit: CreditDraft, *, idempotency_key: str) -> XeroCredit | None: ...

    # -- settings
    def organisation(self) -> Organisation | None: ...

    def accounts(self) -> list[LedgerAccount]: ...

    def tax_rates(self) -> list[XeroTaxRateRecord]: ...

    def branding_themes(self) -> list[BrandingTheme]: ...

    def payment_services(self, branding_theme_id: str) -> tuple[str, ...]:
        """The names of the payment services on a branding theme."""
        ...
