"""Payments against invoices, from whichever side the money came in.

Every operation is idempotent on the ids the outside world gives a payment (the gateway's
PaymentIntent id, Xero's PaymentID): the same payment arriving twice, or from both sides,
is recorded once. Amounts only move forward: a refund total lower than one already
recorded, or a reversal of a reversed payment, changes nothing. The invoice's amount paid
is always recomputed from its payments, never adjusted by increments.

Each operation locks the invoice first (``billing.locking``) and decides on what the lock
re-read, so two payments arriving at once on two workers cannot both pass the check against
the amount due, and a payment cannot land on an invoice an admin is voiding.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import events
from billing.db import ZERO, utcnow
from billing.errors import InvalidAmount, InvoiceNotEditable, Overpayment
from billing.invoices import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.locking import lock_invoice


def find_payment(
    db: Session, *, gateway_payment_id: str | None = None, xero_payment_id: str | None = None
) -> Payment | None:
    if gateway_payment_id:
        found = db.scalar(select(Payment).where(Payment.gateway_payment_id == gateway_payment_id))
        if found is not None:
            return found
    if xero_payment_id:
        return db.scalar(select(Payment).where(Payment.xero_payment_id == xero_payment_id))
    return None


def record_payment(
    db: Session,
    invoice: Invoice,
    *,
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str = "",
    source: PaymentSource = PaymentSource.PORTAL,
    gateway_payment_id: str | None = None,
    gateway_charge_id: str | None = None,
    xero_payment_id: str | None = None,
) -> Payment:
    invoice = lock_invoice(db, invoice.id)
    existing = find_payment(
        db, gateway_payment_id=gateway_payment_id, xero_payment_id=xero_payment_id
    )
    if existing is not None:
        return existing
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        raise InvoiceNotEditable("Payments can only be recorded on awaiting-payment invoices.")
    if amount <= 0:
        raise InvalidAmount("A payment must be above zero.")
    if amount > invoice.amount_due:
        raise Overpayment(f"The payment of {amount} is more than the {invoice.amount_due} due.")
    payment = Payment(
        invoice=invoice,
        amount=amount,
        currency=invoice.currency,
        paid_on=paid_on,
        method=method,
        reference=reference,
        source=source,
        gateway_payment_id=gateway_payment_id,
        gateway_charge_id=gateway_charge_id,
        xero_payment_id=xero_payment_id,
        amount_refunded=ZERO,
    )
    db.add(payment)
    _recompute(invoice)
    db.flush()
    events.publish(db, events.PAYMENT_RECORDED, payment=payment)
    return payment


def record_refund(db: Session, payment: Payment, refunded_total: Decimal) -> bool:
    """The gateway's running refund total for this payment. Returns whether it changed."""
    lock_invoice(db, payment.invoice_id)  # re-reads the payment too (an eager collection)
    refunded_total = min(refunded_total, payment.amount)
    if refunded_total <= payment.amount_refunded or payment.reversed_at is not None:
        return False
    payment.amount_refunded = refunded_total
    _recompute(payment.invoice)
    db.flush()
    events.publish(db, events.PAYMENT_CHANGED, payment=payment)
    return True


def reverse_payment(db: Session, payment: Payment) -> bool:
    """The payment no longer stands (deleted in Xero). Returns whether it changed."""
    lock_invoice(db, payment.invoice_id)
    if payment.reversed_at is not None:
        return False
    payment.reversed_at = utcnow()
    _recompute(payment.invoice)
    db.flush()
    events.publish(db, events.PAYMENT_CHANGED, payment=payment)
    return True


def _recompute(invoice: Invoice) -> None:
    paid = sum((p.net_amount for p in invoice.payments), ZERO)
    invoice.amount_paid = paid
    invoice.payment_revision = (invoice.payment_revision or 0) + 1
    if invoice.state is InvoiceStatus.AWAITING_PAYMENT and invoice.amount_due == 0:
        invoice.move_to(InvoiceStatus.PAID)
    elif invoice.state is InvoiceStatus.PAID and invoice.amount_due > 0:
        invoice.move_to(InvoiceStatus.AWAITING_PAYMENT)
