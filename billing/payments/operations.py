"""Payments against invoices, from whichever side the money came in.

Every operation is idempotent on the ids the outside world gives a payment (the gateway's
PaymentIntent id, Xero's PaymentID): the same payment arriving twice, or from both sides,
is recorded once. Amounts only move forward: a refund total lower than one already
recorded, or a reversal of a reversed payment, changes nothing. The invoice's amount paid
is always recomputed from its payments, never adjusted by increments.

Each operation locks the invoice first (``billing.invoices.locking``) and decides on what the lock
re-read, so two payments arriving at once on two workers cannot both pass the check against
the amount due, and a payment cannot land on an invoice an admin is voiding.

Money that really moved (a succeeded card payment, a payment Xero holds) is never refused
for being too much: with ``hold_overpayment`` it is recorded and held as an overpayment
(``billing.payments.overpayments``) for an admin to refund or keep as credit. When the money that
does not fit came from Xero and the invoice is paid by a card payment Xero has not been told
of yet, the card payment is the one held: Xero already applied its own, so both books then
show the same payment on the invoice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import events
from billing.db import ZERO, utcnow
from billing.errors import InvalidAmount, InvoiceNotEditable, Overpayment
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.payments import overpayments


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
    hold_overpayment: bool = False,
) -> Payment:
    """Record one payment. ``hold_overpayment``: the money has moved already (a succeeded
    card payment, a payment in Xero), so one that does not fit is held, not refused."""
    invoice = lock_invoice(db, invoice.id)
    existing = find_payment(
        db, gateway_payment_id=gateway_payment_id, xero_payment_id=xero_payment_id
    )
    if existing is not None:
        return existing
    # Money taken for an invoice voided meanwhile (an admin voided while the member's card
    # was being charged) is held whole: a voided invoice carries no payment.
    voided = invoice.state is InvoiceStatus.VOIDED
    holdable = hold_overpayment and (voided or invoice.state is InvoiceStatus.PAID)
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT and not holdable:
        raise InvoiceNotEditable("Payments can only be recorded on awaiting-payment invoices.")
    if amount <= 0:
        raise InvalidAmount("A payment must be above zero.")
    displaced: list[Payment] = []
    held = voided
    if amount > invoice.amount_due and not voided:
        if not hold_overpayment:
            raise Overpayment(f"The payment of {amount} is more than the {invoice.amount_due} due.")
        if source is PaymentSource.XERO and xero_payment_id:
            displaced = _unsent_card_payments_to_hold(invoice, amount)
        held = not displaced
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
    db.flush()
    for other in displaced:
        overpayments.hold(db, other)
    if held:
        overpayments.hold(db, payment)
    _recompute(invoice)
    db.flush()
    events.publish(db, events.PAYMENT_RECORDED, payment=payment)
    for other in displaced:
        events.publish(db, events.PAYMENT_CHANGED, payment=other)
    return payment


def _unsent_card_payments_to_hold(invoice: Invoice, amount: Decimal) -> list[Payment]:
    """The portal's applied payments not yet in Xero, newest first, whose holding makes
    room for ``amount``; empty when holding them all would not."""
    unsent = sorted(
        (
            p
            for p in invoice.payments
            if p.source == PaymentSource.PORTAL
            and not p.xero_payment_id
            and not p.held
            and p.net_amount > 0
        ),
        key=lambda p: p.id,
        reverse=True,
    )
    room = invoice.amount_due if invoice.state is InvoiceStatus.AWAITING_PAYMENT else ZERO
    chosen: list[Payment] = []
    for candidate in unsent:
        if amount <= room:
            break
        chosen.append(candidate)
        room += candidate.net_amount
    return chosen if amount <= room else []


def record_refund(db: Session, payment: Payment, refunded_total: Decimal) -> bool:
    """The gateway's running refund total for this payment. Returns whether it changed."""
    lock_invoice(db, payment.invoice_id)  # re-reads the payment too (an eager collection)
    refunded_total = min(refunded_total, payment.amount)
    if refunded_total <= payment.amount_refunded or payment.reversed_at is not None:
        return False
    payment.amount_refunded = refunded_total
    _recompute_and_settle(db, payment.invoice)
    db.flush()
    events.publish(db, events.PAYMENT_CHANGED, payment=payment)
    return True


def reverse_payment(db: Session, payment: Payment) -> bool:
    """The payment no longer stands (deleted in Xero). Returns whether it changed."""
    lock_invoice(db, payment.invoice_id)
    if payment.reversed_at is not None:
        return False
    payment.reversed_at = utcnow()
    _recompute_and_settle(db, payment.invoice)
    db.flush()
    events.publish(db, events.PAYMENT_CHANGED, payment=payment)
    return True


def _recompute_and_settle(db: Session, invoice: Invoice) -> None:
    _recompute(invoice)
    if overpayments.settle(db, invoice):
        _recompute(invoice)


def _recompute(invoice: Invoice) -> None:
    paid = sum((p.net_amount for p in invoice.payments), ZERO)
    invoice.amount_paid = paid
    invoice.payment_revision = (invoice.payment_revision or 0) + 1
    if invoice.state is InvoiceStatus.AWAITING_PAYMENT and invoice.amount_due == 0:
        invoice.move_to(InvoiceStatus.PAID)
    elif invoice.state is InvoiceStatus.PAID and invoice.amount_due > 0:
        invoice.move_to(InvoiceStatus.AWAITING_PAYMENT)
