"""Stripe's webhook events, handled from the inbox (provider "stripe").

An event's copy of the object is never trusted: it can be stale (events arrive late, twice
and out of order) or, for a replayed old event, long outdated. The handler re-reads the
PaymentIntent or charge from Stripe and brings the portal up to what Stripe says now:

* a succeeded PaymentIntent is one card payment (``record_payment``, idempotent on the
  PaymentIntent id), with the charge id as its reference; when the invoice was paid
  meanwhile (Xero's "Pay now", another tab), it is held as an overpayment;
* a failed one marks the member's attempt failed, with Stripe's message;
* a charge's running ``amount_refunded`` is the payment's refund total (``record_refund``
  only ever lets it grow), recording the payment first if its own event is still to come.

Nothing moves backwards, and an intent that names no portal invoice (another app on the
same Stripe account, Xero's own payment service) is logged and acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import inbox
from billing.cards.checkout import find_attempt, note_intent
from billing.cards.gateways import (
    CardGateway,
    Charge,
    GatewayNotFound,
    PaymentIntent,
    from_minor_units,
)
from billing.cards.model import AttemptStatus, CardPaymentAttempt
from billing.db import outside_transaction
from billing.errors import BillingError
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice, Payment, PaymentSource
from billing.payments.operations import find_payment, record_payment, record_refund

log = logging.getLogger(__name__)

PROVIDER = "stripe"
CARD = "card"

GatewayFor = Callable[[Session], CardGateway]

#: Events whose object is a charge, and those whose object is a refund naming its charge:
#: either way the charge's running refund total is re-read.
CHARGE_EVENTS = frozenset({"charge.refunded", "charge.succeeded", "charge.updated"})
REFUND_EVENTS = frozenset(
    {"charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
)


class UnrecordablePayment(BillingError):
    """Stripe took money the portal cannot record as is (the invoice was voided, or the
    currency differs): an admin must look (refund, or record by hand). Money for an invoice
    paid meanwhile is recorded and held as an overpayment instead
    (billing.payments.overpayments)."""


def register(handlers: inbox.Handlers, gateway_for: GatewayFor) -> None:
    """Hand the application's stored Stripe events to a handler reading ``gateway_for``."""
    handlers.register(PROVIDER, StripeEventHandler(gateway_for))


class StripeEventHandler:
    def __init__(self, gateway_for: GatewayFor):
        self.gateway_for = gateway_for

    def __call__(self, db: Session, event: InboundEvent) -> None:
        obj = (event.data().get("data") or {}).get("object") or {}
        kind = event.event_type
        if kind.startswith("payment_intent."):
            fetch, object_id = "intent", obj.get("id")
        elif kind in CHARGE_EVENTS:
            fetch, object_id = "charge", obj.get("id")
        elif kind in REFUND_EVENTS:
            fetch, object_id = "charge", obj.get("charge")
        else:
            log.info("Stripe event %s (%s) needs nothing from the portal", event.event_id, kind)
            return
        if isinstance(object_id, dict):
            object_id = object_id.get("id")
        if not object_id:
            log.warning("Stripe event %s (%s) names no object; ignored", event.event_id, kind)
            return
        gateway = self.gateway_for(db)
        # No transaction stays open while Stripe answers (SQLite would hold its write lock).
        outside_transaction(db)
        try:
            if fetch == "intent":
                apply_intent(db, gateway, gateway.payment_intent(object_id))
            else:
                apply_charge(db, gateway, gateway.charge(object_id))
        except GatewayNotFound:
            log.warning(
                "Stripe event %s (%s): %s is unknown to this Stripe account; ignored",
                event.event_id,
                kind,
                object_id,
            )


def apply_intent(db: Session, gateway: CardGateway, intent: PaymentIntent) -> Payment | None:
    """What Stripe says of a PaymentIntent, applied. Returns its payment, once there is one."""
    invoice = _invoice_named(db, intent.metadata)
    if invoice is None:
        log.warning(
            "Stripe PaymentIntent %s names no invoice of this portal (metadata %s); ignored",
            intent.id,
            intent.metadata,
        )
        return None
    attempt = _attempt_for(db, intent)
    if attempt is not None:
        note_intent(attempt, intent)
    if intent.status != "succeeded":
        db.flush()
        return find_payment(db, gateway_payment_id=intent.id)

    charge = intent.latest_charge
    payment = find_payment(db, gateway_payment_id=intent.id)
    if payment is None:
        payment = _record(db, invoice, intent, charge)
    if attempt is not None:
        attempt.status = AttemptStatus.SUCCEEDED
        attempt.failure_message = ""
    if charge is not None and charge.amount_refunded:
        record_refund(db, payment, from_minor_units(charge.amount_refunded, charge.currency))
    db.flush()
    return payment


def apply_charge(db: Session, gateway: CardGateway, charge: Charge) -> Payment | None:
    """A charge's refund total, applied to its payment."""
    payment = db.scalar(select(Payment).where(Payment.gateway_charge_id == charge.id))
    if payment is None and charge.payment_intent_id:
        payment = find_payment(db, gateway_payment_id=charge.payment_intent_id)
    if payment is None:
        if not charge.payment_intent_id:
            log.warning("Stripe charge %s has no PaymentIntent; ignored", charge.id)
            return None
        # The refund's event came before the payment's: record the payment from the
        # intent first (apply_intent also applies the refund total it carries).
        payment = apply_intent(db, gateway, gateway.payment_intent(charge.payment_intent_id))
        if payment is None:
            return None
    record_refund(db, payment, from_minor_units(charge.amount_refunded, charge.currency))
    return payment


def refresh_attempt(
    db: Session, gateway: CardGateway, attempt: CardPaymentAttempt
) -> Payment | None:
    """The member's "check now": read the attempt's PaymentIntent from Stripe and apply it,
    exactly as its webhook would."""
    if not attempt.gateway_payment_id:
        return None
    intent_id = attempt.gateway_payment_id
    outside_transaction(db)
    return apply_intent(db, gateway, gateway.payment_intent(intent_id))


def _record(db: Session, invoice: Invoice, intent: PaymentIntent, charge: Charge | None) -> Payment:
    if intent.currency != invoice.currency:
        raise UnrecordablePayment(
            f"PaymentIntent {intent.id} is in {intent.currency}, invoice "
            f"{invoice.display_number} in {invoice.currency}."
        )
    amount = from_minor_units(intent.amount_received or intent.amount, intent.currency)
    try:
        return record_payment(
            db,
            invoice,
            amount=amount,
            paid_on=_day(charge.created) if charge and charge.created else date.today(),
            method=CARD,
            reference=charge.id if charge else intent.id,
            source=PaymentSource.PORTAL,
            gateway_payment_id=intent.id,
            gateway_charge_id=charge.id if charge else None,
            # Stripe took the money: an invoice paid meanwhile holds it as an overpayment.
            hold_overpayment=True,
        )
    except BillingError as error:
        raise UnrecordablePayment(
            f"Stripe took {amount} {intent.currency} for invoice {invoice.display_number} "
            f"(PaymentIntent {intent.id}) but it cannot be recorded: {error}"
        ) from error


def _invoice_named(db: Session, metadata: dict[str, str]) -> Invoice | None:
    raw = metadata.get("portal_invoice_id", "")
    if not raw.isdigit():
        return None
    invoice = db.get(Invoice, int(raw))
    if invoice is None:
        return None
    number = metadata.get("portal_invoice_number")
    if number and invoice.number and number != invoice.number:
        # Another portal (a restored copy, a test install) sharing the Stripe account.
        return None
    return invoice


def _attempt_for(db: Session, intent: PaymentIntent) -> CardPaymentAttempt | None:
    attempt = db.scalar(
        select(CardPaymentAttempt).where(CardPaymentAttempt.gateway_payment_id == intent.id)
    )
    if attempt is None and intent.metadata.get("portal_payment_key"):
        attempt = find_attempt(db, intent.metadata["portal_payment_key"])
        if attempt is not None and attempt.gateway_payment_id not in (None, intent.id):
            return None
    return attempt


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()
