"""Two tabs claiming a card attempt for one invoice at once, on two real connections, with
different amounts (found on main: 74.86 due, 124.86 captured). Whatever the order, exactly
one attempt is live and exactly one charge is made at Stripe (localstripe).

The orders and the two-writer harness are test_money_races'; the interleaved order (the
second claim waits on the invoice's row lock) needs PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.cards import checkout as card_checkout
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.cards.model import LIVE_STATUSES, CardPaymentAttempt
from billing.invoices.model import Invoice
from tests import localstripe as stripe_stand_in
from tests.billing import test_money_races as races
from tests.billing.test_money_races import ORDERS, TOTAL, _invoice, run
from tests.factories import domain_session

# The fixtures, for this module.
engine = races.engine
service_and_customer = races.service_and_customer
localstripe = stripe_stand_in.localstripe
new_intents = stripe_stand_in.new_intents


def claim(amount: Decimal):
    def op(db: Session, invoice: Invoice):
        return card_checkout.claim_attempt(db, invoice, amount)

    return op


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "amounts", [("74.86", "50.00"), ("50.00", "74.86")], ids=["full-first", "part-first"]
)
def test_two_tabs_with_different_amounts_make_one_charge(
    engine, service_and_customer, localstripe, new_intents, order, amounts
):
    invoice_id = _invoice(engine, service_and_customer)
    first, second = (Decimal(a) for a in amounts)
    a, b = run(engine, invoice_id, claim(first), claim(second), order)

    # The first claim stands; the second is told a payment is in progress.
    assert a.error is None
    assert isinstance(b.error, card_checkout.PaymentInProgress)
    gateway = StripeGateway(stripe_stand_in.SECRET_KEY, api_base=localstripe.url)
    with domain_session(engine, expire_on_commit=False) as db:
        [live] = db.scalars(
            select(CardPaymentAttempt).where(
                CardPaymentAttempt.invoice_id == invoice_id,
                CardPaymentAttempt.status.in_(LIVE_STATUSES),
            )
        ).all()
        assert live.amount == first
        # Each tab now goes on as the page does: charge its claim, or claim again.
        invoice = db.get(Invoice, invoice_id)
        pm = localstripe.card_payment_method()
        outcome = card_checkout.charge_attempt(db, gateway, live, invoice, pm)
        db.commit()
        assert outcome.status == "processing"
        with pytest.raises(card_checkout.PaymentInProgress):
            card_checkout.claim_attempt(db, invoice, second)
        db.rollback()

    taken = [pi for pi in new_intents(invoice_id) if pi["status"] == "succeeded"]
    assert [pi["amount"] for pi in taken] == [int(first * 100)]
    assert first <= TOTAL
