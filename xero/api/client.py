"""The adapter over xero-python (``xero.api.port.XeroPort``): one configured AccountingApi per
organisation, the portal's records in and out, errors mapped to ``xero.api.errors``, and the
SDK's pitfalls switched off.

- urllib3's silent retries are off: a PUT retried after a read time-out could create a
  second invoice behind our back, and a retried 429 would sleep inside a worker.
- Every call carries a time-out (the SDK has none by default).
- The SDK gets a token dict without expiry or refresh token: it must never
  refresh on its own, because Xero refresh tokens are single use and the portal refreshes
  them under a database lock (``xero.api.tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import urllib3
from xero_python.accounting import (
    AccountingApi,
    BankTransactions,
    Contacts,
    Invoices,
    PaymentDelete,
    Payments,
    RequestEmpty,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException

from billing.links import is_safe_outside_link, origin_of
from xero.api import sdk_models as sdk
from xero.api.errors import AuthLost, NotFound, RateLimited, Retryable, ValidationFailed
from xero.api.port import DEFAULT_TIMEOUT
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

WRITE_METHODS = {"PUT", "POST", "DELETE"}


def make_api_client(access_token: str) -> ApiClient:
    # Configuration() hands back a copy of the first one ever built and ignores its
    # arguments, so the token object is set on the copy.
    configuration = Configuration()
    configuration.oauth2_token = OAuth2Token()
    api_client = ApiClient(
        configuration,
        pool_threads=1,
        # No expires_at and no refresh token: the SDK treats the token as valid and never
        # tries to refresh it itself.
        oauth2_token_getter=lambda: {
            "access_token": access_token,
            "token_type": "Bearer",
            "scope": [],
            "expires_in": None,
        },
        oauth2_token_saver=lambda token: None,
    )
    api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return api_client


class XeroApi:
    """``XeroPort`` over xero-python: one organisation's Accounting API, counted and
    translated. Each operation names the SDK method it calls: ``on_call`` (the rate limiter
    and the call counter) sees those names, which the benchmarks report."""

    def __init__(
        self,
        accounting_url: str,
        access_token: str,
        tenant_id: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        on_call: Callable[[str], None] | None = None,
    ):
        self.tenant_id = tenant_id
        #: Kept to tell the token store which token Xero refused (never logged).
        self.access_token = access_token
        self.timeout = timeout
        self.accounting = AccountingApi(make_api_client(access_token), base_url=accounting_url)
        #: A stand-in on plain http (the sandbox) serves its online invoices itself.
        self.stand_in_origins = (
            [] if accounting_url.startswith("https:") else [origin_of(accounting_url)]
        )
        #: Called before every request with the SDK method's name (rate limiting, counting).
        self.on_call = on_call

    def _send(
        self, method: Callable[..., Any], *args: Any, write: bool = False, **kwargs: Any
    ) -> Any:
        """Call one AccountingApi method for this organisation, errors translated."""
        if self.on_call is not None:
            self.on_call(method.__name__)
        try:
            return method(self.tenant_id, *args, _request_timeout=self.timeout, **kwargs)
        except ApiException as error:
            raise translate(error, write=write) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # A connection that was never made cannot have written anything.
            never_sent = isinstance(
                error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError
            )
            raise Retryable(
                f"Xero did not answer ({type(error).__name__})",
                outcome_unknown=write and not never_sent,
            ) from None

    # -- contacts

    def get_contact(self, contact_id: str) -> list[XeroContact]:
        answer = self._send(self.accounting.get_contact, contact_id)
        return [sdk.contact(c) for c in answer.contacts or []]

    def find_contacts(
        self,
        where: str | None = None,
        *,
        search_term: str | None = None,
        first_page: bool = False,
        summary_only: bool = False,
    ) -> list[XeroContact]:
        # Only the parameters asked for go in the query string.
        options: dict[str, Any] = {}
        if search_term is not None:
            options["search_term"] = search_term
        if where is not None:
            options["where"] = where
        if summary_only:
            options["summary_only"] = True
        if first_page:
            options["page"] = 1
        answer = self._send(self.accounting.get_contacts, **options)
        return [sdk.contact(c) for c in answer.contacts or []]

    def create_contacts(
        self, contacts: Sequence[ContactDetails], *, idempotency_key: str
    ) -> list[XeroContact]:
        return self._write_contacts(self.accounting.create_contacts, contacts, idempotency_key)

    def update_contacts(
        self, contacts: Sequence[ContactDetails], *, idempotency_key: str
    ) -> list[XeroContact]:
        return self._write_contacts(
            self.accounting.update_or_create_contacts, contacts, idempotency_key
        )

    def _write_contacts(
        self, method: Callable[..., Any], contacts: Sequence[ContactDetails], idempotency_key: str
    ) -> list[XeroContact]:
        """A batch of contacts in one call, each element answered on its own."""
        answer = self._send(
            method,
            Contacts(contacts=[sdk.contact_model(c) for c in contacts]),
            summarize_errors=False,
            idempotency_key=idempotency_key,
            write=True,
        )
        return [sdk.contact(c) for c in answer.contacts or []]

    def add_contact_history(
        self, contact_id: str, text: str, *, idempotency_key: str | None = None
    ) -> None:
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        self._send(
            self.accounting.create_contact_history,
            contact_id,
            sdk.history_model(text),
            write=True,
            **options,
        )

    # -- invoices

    def put_invoices(
        self, invoices: Sequence[InvoiceDraft], *, idempotency_key: str
    ) -> list[XeroInvoice]:
        answer = self._send(
            self.accounting.update_or_create_invoices,
            Invoices(invoices=[sdk.invoice_model(i) for i in invoices]),
            summarize_errors=False,
            unitdp=4,
            idempotency_key=idempotency_key,
            write=True,
        )
        return [sdk.invoice(x) for x in answer.invoices or []]

    def set_invoice_status(
        self, xero_invoice_ids: Sequence[str], status: str, *, idempotency_key: str
    ) -> list[XeroInvoice]:
        answer = self._send(
            self.accounting.update_or_create_invoices,
            Invoices(invoices=[sdk.status_model(i, status) for i in xero_invoice_ids]),
            summarize_errors=False,
            idempotency_key=idempotency_key,
            write=True,
        )
        return [sdk.invoice(x) for x in answer.invoices or []]

    def get_invoice(self, xero_invoice_id: str) -> XeroInvoice | None:
        try:
            answer = self._send(self.accounting.get_invoice, xero_invoice_id)
        except NotFound:
            return None
        found = (answer.invoices or [None])[0]
        return sdk.invoice(found) if found is not None else None

    def get_invoices_by_ids(self, xero_invoice_ids: Sequence[str]) -> list[XeroInvoice]:
        answer = self._send(self.accounting.get_invoices, i_ds=list(xero_invoice_ids), page=1)
        return [sdk.invoice(x) for x in answer.invoices or []]

    def get_invoices_by_numbers(self, numbers: Sequence[str]) -> list[XeroInvoice]:
        answer = self._send(
            self.accounting.get_invoices, invoice_numbers=list(numbers), summary_only=True
        )
        return [sdk.invoice(x) for x in answer.invoices or []]

    def get_invoices_page(
        self,
        page: int,
        page_size: int,
        *,
        where: str,
        modified_since: datetime | None = None,
    ) -> list[XeroInvoice]:
        modified: dict[str, Any] = {}
        if modified_since is not None:
            modified["if_modified_since"] = modified_since
        answer = self._send(
            self.accounting.get_invoices,
            page=page,
            page_size=page_size,
            where=where,
            summary_only=True,
            **modified,
        )
        return [sdk.invoice(x) for x in answer.invoices or []]

    def get_invoices_of_contacts(
        self, contact_ids: Sequence[str], page: int, page_size: int
    ) -> list[XeroInvoice]:
        answer = self._send(
            self.accounting.get_invoices,
            contact_i_ds=list(contact_ids),
            where='Type=="ACCREC"',
            page=page,
            page_size=page_size,
            summary_only=True,
        )
        return [sdk.invoice(x) for x in answer.invoices or []]

    def online_invoice_url(self, xero_invoice_id: str) -> str:
        answer = self._send(self.accounting.get_online_invoice, xero_invoice_id)
        online = (answer.online_invoices or [None])[0]
        url = sdk.text(getattr(online, "online_invoice_url", None))
        # Members' pages link to it: only an https link (or the stand-in's own) is kept.
        if url and not is_safe_outside_link(url, self.stand_in_origins):
            raise ValidationFailed(
                [f"Xero's online invoice link is not an https address; not stored: {url[:100]!r}"]
            )
        return url

    def email_invoice(self, xero_invoice_id: str, *, idempotency_key: str) -> None:
        self._send(
            self.accounting.email_invoice,
            xero_invoice_id,
            RequestEmpty(),
            idempotency_key=idempotency_key,
            write=True,
        )

    # -- payments

    def create_payments(
        self, payments: Sequence[PaymentDraft], *, idempotency_key: str
    ) -> list[XeroPayment]:
        answer = self._send(
            self.accounting.create_payments,
            Payments(payments=[sdk.payment_model(p) for p in payments]),
            summarize_errors=False,
            idempotency_key=idempotency_key,
            write=True,
        )
        return [sdk.payment(x) for x in answer.payments or []]

    def delete_payment(self, xero_payment_id: str, *, idempotency_key: str) -> None:
        self._send(
            self.accounting.delete_payment,
            xero_payment_id,
            PaymentDelete(status="DELETED"),
            idempotency_key=idempotency_key,
            write=True,
        )

    def get_payments(self, where: str) -> list[XeroPayment]:
        answer = self._send(self.accounting.get_payments, where=where)
        return [sdk.payment(x) for x in answer.payments or []]

    def get_payments_page(
        self, page: int, page_size: int, *, modified_since: datetime | None = None
    ) -> list[XeroPayment]:
        modified: dict[str, Any] = {}
        if modified_since is not None:
            modified["if_modified_since"] = modified_since
        answer = self._send(
            self.accounting.get_payments, page=page, page_size=page_size, **modified
        )
        return [sdk.payment(x) for x in answer.payments or []]

    # -- credits

    def find_credits(self, where: str) -> list[XeroCredit]:
        answer = self._send(self.accounting.get_bank_transactions, where=where)
        return [sdk.credit(x) for x in answer.bank_transactions or []]

    def create_credit(self, credit: CreditDraft, *, idempotency_key: str) -> XeroCredit | None:
        answer = self._send(
            self.accounting.create_bank_transactions,
            BankTransactions(bank_transactions=[sdk.credit_model(credit)]),
            summarize_errors=False,
            idempotency_key=idempotency_key,
            write=True,
        )
        found = (answer.bank_transactions or [None])[0]
        return sdk.credit(found) if found is not None else None

    # -- settings

    def organisation(self) -> Organisation | None:
        organisations = self._send(self.accounting.get_organisations).organisations or []
        return sdk.organisation(organisations[0]) if organisations else None

    def accounts(self) -> list[LedgerAccount]:
        return [sdk.account(a) for a in self._send(self.accounting.get_accounts).accounts or []]

    def tax_rates(self) -> list[XeroTaxRateRecord]:
        answer = self._send(self.accounting.get_tax_rates)
        return [sdk.tax_rate(r) for r in answer.tax_rates or []]

    def branding_themes(self) -> list[BrandingTheme]:
        answer = self._send(self.accounting.get_branding_themes)
        return [sdk.branding_theme(t) for t in answer.branding_themes or []]

    def payment_services(self, branding_theme_id: str) -> tuple[str, ...]:
        answer = self._send(self.accounting.get_branding_theme_payment_services, branding_theme_id)
        return sdk.service_names(answer.payment_services or [])


def translate(error: ApiException, *, write: bool) -> Exception:
    status = error.status if isinstance(error.status, int) else _http_status(error)
    headers = {k.lower(): v for k, v in (error.headers or {}).items()}
    if status == 429:
        try:
            retry_after = float(headers.get("retry-after", "60"))
        except ValueError:
            retry_after = 60.0
        return RateLimited(retry_after, headers.get("x-rate-limit-problem", ""))
    if status == 400:
        return ValidationFailed(validation_messages(_body_json(error)))
    if status in (401, 403):
        return AuthLost(f"Xero refused the connection ({status})")
    if status == 404:
        return NotFound("Xero has no such object")
    # 5xx: for a write, the change may or may not have been made.
    return Retryable(f"Xero answered {status}", outcome_unknown=write)


def _http_status(error: ApiException) -> int:
    return int(getattr(error.http_resp, "status", 0) or 0)


def _body_json(error: ApiException) -> dict[str, Any]:
    body = error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def validation_messages(data: dict[str, Any]) -> list[str]:
    """Xero's messages from an error body or one element: Elements[].ValidationErrors[]."""
    messages = [
        item.get("Message", "")
        for element in data.get("Elements", []) or [data]
        for item in element.get("ValidationErrors", []) or []
    ]
    if not messages and data.get("Message"):
        messages = [data["Message"]]
    return [m for m in messages if m]
