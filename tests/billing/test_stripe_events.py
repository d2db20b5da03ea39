"""Stripe's events through the inbox: each re-reads the object from Stripe (localstripe),
records a payment once, never moves it backwards, and ignores what is not the portal's."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing import inbox
from billing.cards import checkout as card_checkout
from billing.cards import stripe_events
from billing.cards.gateways import Charge
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.cards.model import AttemptStatus
from billing.inbox import InboundEvent
from billing.invoices.invariants import money_invariant_violations
from billing.invoices.model import Payment
from billing.invoices.operations import void_invoice
from billing.payments import overpayments
from billing.payments.operations import record_payment
from billing.payments.overpayment_refund import refund_overpayment
from tests import localstripe as stripe_stand_in
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from tests.localstripe import CARD_DECLINED_ON_CHARGE, SECRET_KEY

localstripe = stripe_stand_in.localstripe


#: This module's inbox handlers: the worker's, with the gateway of the test that runs.
HANDLERS = inbox.Handlers()


@pytest.fixture
def gateway(localstripe):
    gateway = StripeGateway(SECRET_KEY, api_base=localstripe.url)
    stripe_events.register(HANDLERS, lambda _db: gateway)
    return gateway


@pytest.fixture
def invoice(db):
    # 120.00 + 24.00 tax = 144.00 due
    return make_invoice(db, CustomerFactory(), [(ServiceFactory(unit_price=Decimal("120")), "1")])


def pay(db, gateway, localstripe, invoice, card=None, amount=None):
    claim = card_checkout.claim_attempt(db, invoice, amount or invoice.amount_due)
    db.commit()
    pm = localstripe.card_payment_method(card) if card else localstripe.card_payment_method()
    outcome = card_checkout.charge_attempt(db, gateway, claim.attempt, invoice, pm)
    db.commit()
    return claim.attempt, outcome


def deliver(db, event_type: str, obj: dict, event_id: str | None = None) -> bool:
    """Store an event as the webhook endpoint does, then run the inbox as the worker does."""
    body = stripe_stand_in.event_body(event_type, obj, event_id)
    stored = inbox.store_event(db, "stripe", json.loads(body)["id"], event_type, body)
    db.commit()
    inbox.process_due(lambda: db, HANDLERS)
    return stored


def events(db) -> list[InboundEvent]:
    return list(db.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def payments_of(db, invoice) -> list[Payment]:
    return list(db.scalars(select(Payment).where(Payment.invoice_id == invoice.id)))


def test_succeeded_records_one_card_payment_from_stripe(db, gateway, localstripe, invoice):
    attempt, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    charge_id = intent["latest_charge"]["id"]

    deliver(db, "payment_intent.succeeded", intent)

    [payment] = payments_of(db, invoice)
    assert payment.amount == Decimal("144.00") and payment.currency == "GBP"
    assert payment.method == "card"
    assert payment.reference == charge_id
    assert payment.gateway_payment_id == intent["id"]
    assert payment.gateway_charge_id == charge_id
    assert payment.source == "portal"
    assert invoice.status == "paid" and invoice.amount_due == 0
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert [e.status for e in events(db)] == ["done"]


def test_a_duplicate_event_and_a_second_event_of_the_same_intent_change_nothing(
    db, gateway, localstripe, invoice
):
    _, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    assert deliver(db, "payment_intent.succeeded", intent, event_id="evt_same")
    assert not deliver(db, "payment_intent.succeeded", intent, event_id="evt_same")
    deliver(db, "payment_intent.succeeded", intent)  # Stripe's own retry has a new event id
    assert len(payments_of(db, invoice)) == 1
    assert len(events(db)) == 2


def test_the_events_copy_is_not_trusted(db, gateway, localstripe, invoice):
    _, outcome = pay(db, gateway, localstripe, invoice, amount=Decimal("100.00"))
    forged = {
        "id": outcome.payment_intent_id,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 14400,
        "amount_received": 14400,
        "metadata": {"portal_invoice_id": str(invoice.id)},
    }
    deliver(db, "payment_intent.succeeded", forged)
    [payment] = payments_of(db, invoice)
    assert payment.amount == Decimal("100.00")  # what Stripe says, not what the event said
    assert invoice.status == "awaiting_payment" and invoice.amount_due == Decimal("44.00")


def test_failed_marks_the_attempt_with_stripes_message(db, gateway, localstripe, invoice):
    attempt, outcome = pay(db, gateway, localstripe, invoice, card=CARD_DECLINED_ON_CHARGE)
    # localstripe's decline answer carries no intent id: the metadata finds the attempt.
    [intent] = [
        pi
        for pi in localstripe.payment_intents_for(invoice.id)
        if pi["metadata"].get("portal_payment_key") == attempt.idempotency_key
        and pi["status"] == "requires_payment_method"
    ][-1:]
    attempt.status, attempt.failure_message = AttemptStatus.STARTED, ""
    db.commit()

    deliver(db, "payment_intent.payment_failed", intent)

    assert attempt.status == AttemptStatus.FAILED
    assert attempt.failure_message == "Your card was declined."
    assert attempt.gateway_payment_id == intent["id"]
    assert payments_of(db, invoice) == []
    assert invoice.status == "awaiting_payment" and invoice.amount_paid == 0


def test_a_late_failure_event_never_undoes_a_payment(db, gateway, localstripe, invoice):
    attempt, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    deliver(db, "payment_intent.succeeded", intent)
    stale = {**intent, "status": "requires_payment_method"}
    deliver(db, "payment_intent.payment_failed", stale)
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert len(payments_of(db, invoice)) == 1 and invoice.status == "paid"


def test_a_partial_refund_reopens_the_paid_invoice(db, gateway, localstripe, invoice):
    _, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    deliver(db, "payment_intent.succeeded", intent)
    assert invoice.status == "paid"

    refund = localstripe.refund(intent["id"], amount=4400)
    charge = localstripe.api("GET", f"/v1/charges/{refund['charge']}")
    deliver(db, "charge.refunded", charge)

    [payment] = payments_of(db, invoice)
    assert payment.amount_refunded == Decimal("44.00")
    assert invoice.status == "awaiting_payment"
    assert invoice.amount_due == Decimal("44.00")


def test_refunds_only_grow_whatever_order_their_events_come_in(db, gateway, localstripe, invoice):
    _, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    deliver(db, "payment_intent.succeeded", intent)
    charge_id = intent["latest_charge"]["id"]

    localstripe.refund(intent["id"], amount=1000)
    first = localstripe.api("GET", f"/v1/charges/{charge_id}")  # amount_refunded 1000
    localstripe.refund(intent["id"], amount=2000)
    second = localstripe.api("GET", f"/v1/charges/{charge_id}")  # amount_refunded 3000
    deliver(db, "charge.refunded", second)
    deliver(db, "charge.refunded", first)  # the older event arrives last

    [payment] = payments_of(db, invoice)
    assert payment.amount_refunded == Decimal("30.00")
    assert invoice.amount_due == Decimal("30.00")

    # And the rule itself, without Stripe's re-read: a lower running total changes nothing.
    lower = Charge(charge_id, intent["id"], 14400, 500, "GBP", "succeeded", 0)
    stripe_events.apply_charge(db, gateway, lower)
    assert payment.amount_refunded == Decimal("30.00")


def test_a_refund_before_its_payment_event_records_both_once(db, gateway, localstripe, invoice):
    _, outcome = pay(db, gateway, localstripe, invoice)
    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    refund = localstripe.refund(intent["id"], amount=4400)
    charge = localstripe.api("GET", f"/v1/charges/{refund['charge']}")

    deliver(db, "charge.refunded", charge)
    deliver(db, "payment_intent.succeeded", intent)  # succeeded after refunded

    [payment] = payments_of(db, invoice)
    assert payment.amount == Decimal("144.00")
    assert payment.amount_refunded == Decimal("44.00")
    assert invoice.status == "awaiting_payment" and invoice.amount_due == Decimal("44.00")


def _charged(gateway, payment_method_id: str, metadata: dict[str, str]):
    """A PaymentIntent of 5.00 GBP that took money, made as the portal makes its own."""
    intent = gateway.create_payment_intent(
        amount=500,
        currency="GBP",
        payment_method_id=payment_method_id,
        metadata=metadata,
        idempotency_key=uuid.uuid4().hex,
    )
    return gateway.confirm_payment_intent(intent.id, idempotency_key=uuid.uuid4().hex)


def test_an_intent_naming_no_portal_invoice_is_acknowledged_and_ignored(
    db, gateway, localstripe, invoice
):
    pm = localstripe.card_payment_method()
    foreign = _charged(gateway, pm, {"source": "xero-payment-service"})
    unknown = _charged(
        gateway, localstripe.card_payment_method(), {"portal_invoice_id": "987654321"}
    )
    deliver(db, "payment_intent.succeeded", {"id": foreign.id})
    deliver(db, "payment_intent.succeeded", {"id": unknown.id})
    deliver(db, "payment_intent.succeeded", {"id": "pi_not_at_stripe"})
    deliver(db, "customer.created", {"id": "cus_123"})
    deliver(db, "charge.dispute.created", {"id": "dp_123", "charge": "ch_123"})

    assert [e.status for e in events(db)] == ["done"] * 5
    assert db.scalars(select(Payment)).all() == []


def test_a_payment_on_an_invoice_paid_meanwhile_is_held_as_an_overpayment(
    db, gateway, localstripe, invoice
):
    _, outcome = pay(db, gateway, localstripe, invoice)
    # Paid by other means before Stripe's confirmation arrived.
    other = record_payment(
        db, invoice, amount=invoice.amount_due, paid_on=date.today(), method="bank"
    )
    db.commit()
    deliver(db, "payment_intent.succeeded", {"id": outcome.payment_intent_id})
    [event] = events(db)
    assert event.status == "done"
    card = db.scalar(select(Payment).where(Payment.gateway_payment_id == outcome.payment_intent_id))
    assert (card.held, card.amount, card.net_amount) == (True, Decimal("144.00"), 0)
    assert not other.held and invoice.amount_paid == Decimal("144.00")
    [overpayment] = overpayments.of_invoice(db, invoice.id)
    assert (overpayment.payment_id, overpayment.status) == (card.id, "open")


def test_money_taken_for_an_invoice_voided_meanwhile_is_held_for_an_admin_to_refund(
    db, gateway, localstripe, invoice
):
    _, outcome = pay(db, gateway, localstripe, invoice)
    void_invoice(db, invoice)  # voided before Stripe's confirmation arrived
    db.commit()

    deliver(db, "payment_intent.succeeded", {"id": outcome.payment_intent_id})

    assert [e.status for e in events(db)] == ["done"]
    [payment] = payments_of(db, invoice)
    assert payment.held and payment.amount == Decimal("144.00")
    assert invoice.status == "voided" and invoice.amount_paid == 0
    [overpayment] = overpayments.of_invoice(db, invoice.id)
    assert overpayment.state is overpayments.OverpaymentStatus.OPEN
    assert money_invariant_violations(db) == []

    refund_overpayment(db, gateway, overpayment.id, None)

    intent = localstripe.api("GET", f"/v1/payment_intents/{outcome.payment_intent_id}")
    assert intent["latest_charge"]["amount_refunded"] == 14400
    assert overpayment.state is overpayments.OverpaymentStatus.REFUNDED
    assert payment.money_kept == 0 and invoice.status == "voided"
    assert money_invariant_violations(db) == []


def test_check_now_applies_the_intent_as_the_webhook_would(db, gateway, localstripe, invoice):
    attempt, _ = pay(db, gateway, localstripe, invoice)
    payment = stripe_events.refresh_attempt(db, gateway, attempt)
    assert payment is not None and payment.method == "card"
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert invoice.status == "paid"
