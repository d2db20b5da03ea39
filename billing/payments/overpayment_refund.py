"""Refunding the card payment of an overpayment through the gateway.

The decision is committed first (``decide_refund``: the overpayment is "refunding", naming
the card payment), then Stripe is called with no transaction open, then the charge is re-read
and applied exactly as its ``charge.refunded`` webhook would be (``apply_charge``), which
settles the overpayment (``billing.payments.overpayments.settle``). The refund's idempotency key is
the overpayment's and the amount's: a double click, or an admin retrying after a lost answer,
refunds once; a charge already refunded as far as wanted is not refunded again.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing.cards.gateways import CardGateway, to_minor_units
from billing.cards.stripe_events import apply_charge
from billing.db import outside_transaction
from billing.invoices.model import Payment
from billing.payments.overpayments import Overpayment, decide_refund


def refund_key(overpayment: Overpayment, amount: int) -> str:
    return f"portal-overpayment-{overpayment.id}-refund-{amount}"


def refund_overpayment(
    db: Session, gateway: CardGateway, overpayment_id: int, user_id: int | None
) -> Overpayment:
    """Decide (or carry on) the refund, ask the gateway, and apply what it says. Commits:
    the decision before the call, the outcome after it (the caller commits nothing)."""
    overpayment = decide_refund(db, overpayment_id, user_id)
    card = db.get(Payment, overpayment.refund_payment_id)
    assert card is not None and card.gateway_payment_id
    intent_id, currency = card.gateway_payment_id, card.currency
    wanted = to_minor_units(card.amount, currency)
    outside_transaction(
        db
    )  # the decision stands even if Stripe does not answer; no lock held during it
    intent = gateway.payment_intent(intent_id)
    charge = intent.latest_charge
    already = charge.amount_refunded if charge is not None else 0
    if already < wanted:
        gateway.refund(
            intent_id,
            amount=wanted - already,
            idempotency_key=refund_key(overpayment, wanted - already),
        )
    charge = gateway.payment_intent(intent_id).latest_charge
    if charge is not None:
        apply_charge(db, gateway, charge)
    outside_transaction(db)
    db.refresh(overpayment)
    return overpayment
