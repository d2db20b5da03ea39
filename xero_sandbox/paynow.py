""" "Pay now" on the online invoice, as Xero's linked payment services (Stripe) do it.

The customer pays through the service linked to the invoice's branding theme; Xero then
- records a payment on the invoice, to the account the service deposits into, with the
  service's transaction id as Reference (Stripe: ``ch_...``);
- records the service's fee as a spend-money transaction on that account;
- moves AmountPaid/AmountDue, and the invoice to PAID when nothing is left;
- tells subscribed apps with an INVOICE UPDATE webhook.
Any amount up to the amount due may be paid (a part payment when less).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .errors import ValidationFailure
from .ledger.batch import Batch
from .ledger.payments import prepare_payment
from .money import ZERO
from .state import BankTransaction, Invoice, Organisation, Payment, PaymentService, new_id

if TYPE_CHECKING:
    from .sandbox import Sandbox

CENT = Decimal("0.01")


class PayNowRefused(Exception):
    """The payment cannot be made; ``str()`` is fit to show the customer."""


@dataclass(frozen=True)
class PayNowResult:
    org: Organisation
    invoice: Invoice
    payment: Payment
    fee: BankTransaction


def gateway_reference(service: PaymentService) -> str:
    """The service's own id of the money movement, as Xero shows it in the payment."""
    if service.type.lower() == "stripe" or service.name.lower() == "stripe":
        return "ch_" + secrets.token_hex(12)
    return f"{service.name}: {secrets.token_hex(8).upper()}"


def service_fee(service: PaymentService, amount: Decimal) -> Decimal:
    fee = amount * service.fee_percent / 100 + service.fee_fixed
    return min(amount, fee.quantize(CENT, ROUND_HALF_UP))


def parse_amount(raw: object) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise PayNowRefused("Enter the amount as a number, like 12.50.") from None
    if not amount.is_finite():
        raise PayNowRefused("Enter the amount as a number, like 12.50.")
    return amount


def pay_now(
    sandbox: Sandbox,
    invoice_id: str,
    amount: Decimal | None = None,
    service_id: str | None = None,
) -> PayNowResult:
    """Pay ``amount`` (default: all that is due) through the invoice's payment service."""
    with sandbox.lock:
        found = sandbox.find_invoice(invoice_id)
        if found is None:
            raise PayNowRefused("Invoice not found")
        org, invoice = found
        theme = org.branding_themes.get(invoice.branding_theme_id or "")
        services = list(theme.payment_services) if theme else []
        if not services:
            raise PayNowRefused("No online payment service is linked to this invoice.")
        service = next(
            (s for s in services if s.payment_service_id == (service_id or "").lower()),
            services[0],
        )
        if invoice.status != "AUTHORISED":
            raise PayNowRefused(f"This invoice cannot be paid online ({invoice.status}).")
        amount = invoice.amount_due if amount is None else amount.quantize(CENT, ROUND_HALF_UP)
        if amount <= ZERO:
            raise PayNowRefused("The amount must be more than zero.")
        now = sandbox.clock.now()
        today = datetime.fromtimestamp(now, tz=UTC).date()
        reference = gateway_reference(service)
        batch = Batch(now=now, user=service.name)
        try:
            plan = prepare_payment(
                org,
                {
                    "Invoice": {"InvoiceID": invoice.invoice_id},
                    "Account": {"Code": service.account_code},
                    "Amount": amount,
                    "Date": today.isoformat(),
                    "Reference": reference,
                },
                batch,
            )
        except ValidationFailure as failure:
            raise PayNowRefused("; ".join(failure.messages)) from None
        payment = plan()
        fee = BankTransaction(
            bank_transaction_id=new_id(),
            type="SPEND",
            bank_account_code=service.account_code,
            contact_name=service.name,
            description=f"{service.name} fee for {reference} ({invoice.invoice_number})",
            account_code=service.fee_account_code,
            amount=service_fee(service, amount),
            date=today,
            reference=reference,
            updated=now,
        )
        org.bank_transactions[fee.bank_transaction_id] = fee
    sandbox.webhooks.invoice_events(org.tenant_id, [(invoice.invoice_id, "UPDATE")])
    return PayNowResult(org, invoice, payment, fee)
