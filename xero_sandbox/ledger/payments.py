"""Payments against invoices: they move AmountPaid/AmountDue and reach or leave PAID."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import rules
from ..errors import ValidationFailure
from ..money import ZERO, round_money, to_decimal
from ..state import HistoryRecord, Organisation, Payment, new_id
from ..xerojson import parse_date
from .batch import Batch, Plan


def prepare_payment(org: Organisation, data: dict[str, Any], batch: Batch) -> Plan:
    if data.get("Status") not in (None, "AUTHORISED"):
        raise ValidationFailure(rules.PAYMENT_NOT_AUTHORISED)
    messages: list[str] = []
    invoice = None
    ref = data.get("Invoice") or {}
    if isinstance(ref, dict) and ref.get("InvoiceID"):
        invoice = org.invoices.get(str(ref["InvoiceID"]).lower())
    elif isinstance(ref, dict) and ref.get("InvoiceNumber"):
        invoice = org.invoice_by_number(str(ref["InvoiceNumber"]))
    elif data.get("InvoiceNumber"):
        invoice = org.invoice_by_number(str(data["InvoiceNumber"]))
    if invoice is None:
        messages.append(rules.INVOICE_NOT_FOUND)

    account = org.account_by_reference(data.get("Account"))
    problem = rules.payment_account_problem(account)
    if problem:
        messages.append(problem)

    try:
        amount = round_money(to_decimal(data.get("Amount")))
    except ValueError:
        amount = ZERO
    if amount <= ZERO:
        messages.append(rules.PAYMENT_AMOUNT_POSITIVE)
    try:
        paid_on = parse_date(data["Date"]) if data.get("Date") else None
    except ValueError:
        messages.append("Date is not a valid date")  # sandbox wording
        paid_on = None

    if invoice is not None:
        if invoice.status != "AUTHORISED":
            messages.append(rules.PAYMENT_NOT_AUTHORISED)
        outstanding = invoice.amount_due - batch.pending_payments.get(invoice.invoice_id, ZERO)
        if amount > outstanding:
            messages.append(rules.PAYMENT_EXCEEDS_DUE)
    if messages:
        raise ValidationFailure(*dict.fromkeys(messages))
    assert invoice is not None and account is not None
    batch.pending_payments[invoice.invoice_id] = (
        batch.pending_payments.get(invoice.invoice_id, ZERO) + amount
    )

    def apply() -> Payment:
        from datetime import UTC, datetime

        day = paid_on or datetime.fromtimestamp(batch.now, tz=UTC).date()
        payment = Payment(
            payment_id=new_id(),
            invoice_id=invoice.invoice_id,
            account_id=account.account_id,
            amount=amount,
            date=day,
            reference=str(data.get("Reference") or ""),
            updated=batch.now,
            is_reconciled=bool(data.get("IsReconciled", False)),
        )
        org.payments[payment.payment_id] = payment
        invoice.payment_ids.append(payment.payment_id)
        invoice.amount_paid += amount
        invoice.updated = batch.now
        invoice.history.append(
            HistoryRecord(
                "Paid",
                f"Payment received from {org.contacts[invoice.contact_id].name} on "
                f"{day.isoformat()} for {amount}.",
                batch.user,
                batch.now,
            )
        )
        if invoice.amount_due == ZERO:
            invoice.status = "PAID"
            invoice.fully_paid_on = day
        payment.history.append(
            HistoryRecord("Created", f"Payment of {amount}.", batch.user, batch.now)
        )
        return payment

    return apply


def prepare_payment_deletion(
    org: Organisation, payment: Payment, data: dict[str, Any], batch: Batch
) -> Plan:
    """Deleting is the only change Xero accepts to a payment; the invoice goes back."""
    if data.get("Status") != "DELETED" or set(data) - {"Status", "PaymentID"}:
        raise ValidationFailure(rules.PAYMENT_ONLY_STATUS)
    if payment.status == "DELETED":
        raise ValidationFailure(rules.PAYMENT_ALREADY_DELETED)

    def apply() -> Payment:
        invoice = org.invoices[payment.invoice_id]
        payment.status = "DELETED"
        payment.updated = batch.now
        invoice.amount_paid -= payment.amount
        if invoice.status == "PAID" and invoice.amount_due > Decimal(0):
            invoice.status = "AUTHORISED"
            invoice.fully_paid_on = None
        invoice.updated = batch.now
        invoice.history.append(
            HistoryRecord(
                "Payment Deleted", f"Payment of {payment.amount} deleted.", batch.user, batch.now
            )
        )
        payment.history.append(HistoryRecord("Deleted", "", batch.user, batch.now))
        return payment

    return apply
