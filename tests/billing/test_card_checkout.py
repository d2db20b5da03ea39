"""Card checkout against localstripe: one PaymentIntent per idempotency key, refusals before
Stripe is called, declines and 3-D Secure, and the payment settings."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing import card_checkout
from billing.card_checkout import (
    PaymentInProgress,
    SettingsChange,
    StripeKeys,
    TooManyAttempts,
    claim_attempt,
)
from billing.card_payments import AttemptStatus, CardPaymentAttempt, PaymentSettings
from billing.db import utcnow
from billing.encryption import SecretBox
from billing.errors import InvalidAmount, InvoiceNotEditable, Overpayment
from billing.gateways import from_minor_units, to_minor_units
from billing.gateways.stripe_gateway import StripeGateway
from billing.invoicing import void_invoice
from billing.payments import record_payment
from tests import localstripe as stripe_stand_in
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from tests.localstripe import CARD_3DS, CARD_DECLINED_ON_CHARGE, SECRET_KEY

# The fixtures, for this module.
localstripe = stripe_stand_in.localstripe
new_intents = stripe_stand_in.new_intents


@pytest.fixture
def gateway(localstripe):
    return StripeGateway(SECRET_KEY, api_base=localstripe.url)


@pytest.fixture
def invoice(db):
    # 120.00 + 24.00 tax = 144.00 due
    return make_invoice(db, CustomerFactory(), [(ServiceFactory(unit_price=Decimal("120")), "1")])


def charge(db, gateway, localstripe, invoice, amount=None, card=None):
    claim = claim_attempt(db, invoice, amount or invoice.amount_due)
    db.commit()
    pm = localstripe.card_payment_method(card) if card else localstripe.card_payment_method()
    return claim, card_checkout.charge_attempt(db, gateway, claim.attempt, invoice, pm)


def test_key_is_invoice_revision_and_amount(db, invoice):
    assert invoice.amount_due == Decimal("144.00")
    claim = claim_attempt(db, invoice, Decimal("144.00"))
    assert claim.created
    assert claim.attempt.idempotency_key == f"inv{invoice.id}-rev{invoice.payment_revision}-144.00"
    assert (claim.attempt.amount, claim.attempt.currency) == (Decimal("144.00"), "GBP")
    assert claim.attempt.status == AttemptStatus.STARTED


def test_a_new_balance_is_a_new_key(db, invoice):
    first = claim_attempt(db, invoice, Decimal("144.00")).attempt.idempotency_key
    record_payment(db, invoice, amount=Decimal("44.00"), paid_on=date.today(), method="manual")
    second = claim_attempt(db, invoice, Decimal("100.00")).attempt.idempotency_key
    assert first != second
    assert second == f"inv{invoice.id}-rev{invoice.payment_revision}-100.00"


@pytest.mark.parametrize(
    ("amount", "error"),
    [("144.01", Overpayment), ("1000", Overpayment), ("0", InvalidAmount), ("-5", InvalidAmount)],
)
def test_amounts_outside_the_balance_are_refused_before_stripe(
    db,
    invoice,
    localstripe,
    amount,
    error,
    new_intents,
):
    with pytest.raises(error):
        claim_attempt(db, invoice, Decimal(amount))
    with pytest.raises(error):
        card_checkout.begin_card_setup(None, invoice, Decimal(amount))  # no gateway needed
    assert db.query(CardPaymentAttempt).filter_by(invoice_id=invoice.id).count() == 0
    assert new_intents(invoice.id) == []


def test_invoices_not_awaiting_payment_are_refused(db, invoice):
    void_invoice(db, invoice)
    with pytest.raises(InvoiceNotEditable):
        claim_attempt(db, invoice, Decimal("1.00"))
    draft = make_invoice(db, invoice.customer, issue=False)
    with pytest.raises(InvoiceNotEditable):
        claim_attempt(db, draft, Decimal("1.00"))


def test_a_card_payment_is_accepted_but_not_recorded_until_stripe_confirms(
    db,
    gateway,
    localstripe,
    invoice,
    new_intents,
):
    claim, outcome = charge(db, gateway, localstripe, invoice)
    assert outcome.status == "processing"
    attempt = claim.attempt
    assert attempt.status == AttemptStatus.PROCESSING
    assert attempt.gateway_payment_id == outcome.payment_intent_id
    [intent] = new_intents(invoice.id)
    assert intent["id"] == attempt.gateway_payment_id
    assert intent["amount"] == 14400 and intent["currency"] == "gbp"
    assert intent["metadata"]["portal_invoice_number"] == invoice.number
    assert intent["metadata"]["portal_customer"] == invoice.customer.name
    assert intent["metadata"]["portal_payment_key"] == attempt.idempotency_key
    # Only Stripe's confirmation (the webhook's job) records the money.
    assert invoice.payments == [] and invoice.amount_paid == 0


def test_two_tabs_paying_the_same_balance_charge_once(
    db, gateway, localstripe, invoice, new_intents
):
    first, outcome = charge(db, gateway, localstripe, invoice)
    second = claim_attempt(db, invoice, invoice.amount_due)
    assert not second.created and second.attempt.id == first.attempt.id
    again = card_checkout.resume_attempt(db, gateway, second.attempt)
    assert again.status == "processing"
    assert again.payment_intent_id == outcome.payment_intent_id
    assert len(new_intents(invoice.id)) == 1


def test_a_tab_that_finds_the_key_claimed_but_unsent_waits(db, gateway, invoice):
    claim_attempt(db, invoice, invoice.amount_due)
    other_tab = claim_attempt(db, invoice, invoice.amount_due)
    with pytest.raises(PaymentInProgress):
        card_checkout.resume_attempt(db, gateway, other_tab.attempt)


def test_a_claim_that_never_reached_stripe_is_released_after_a_while(db, gateway, invoice):
    stuck = claim_attempt(db, invoice, invoice.amount_due).attempt
    stuck.created_at = utcnow() - card_checkout.ABANDONED_AFTER - timedelta(seconds=1)
    db.flush()
    fresh = claim_attempt(db, invoice, invoice.amount_due)
    assert fresh.created and fresh.attempt.idempotency_key.endswith("-retry1")
    assert stuck.status == AttemptStatus.FAILED


def test_another_amount_waits_while_a_payment_is_processing(db, gateway, localstripe, invoice):
    charge(db, gateway, localstripe, invoice, amount=Decimal("100.00"))
    with pytest.raises(PaymentInProgress):
        claim_attempt(db, invoice, Decimal("44.00"))


def test_a_decline_keeps_the_message_and_frees_the_next_key(db, gateway, localstripe, invoice):
    claim, outcome = charge(db, gateway, localstripe, invoice, card=CARD_DECLINED_ON_CHARGE)
    assert outcome.status == "failed"
    assert outcome.message == "Your card was declined."
    assert claim.attempt.status == AttemptStatus.FAILED
    assert claim.attempt.failure_message == "Your card was declined."
    assert invoice.amount_paid == 0 and invoice.status == "awaiting_payment"

    retry, outcome = charge(db, gateway, localstripe, invoice)
    assert retry.created and retry.attempt.idempotency_key.endswith("-retry1")
    assert outcome.status == "processing"


def test_declines_are_limited_per_balance(db, gateway, localstripe, invoice):
    for _ in range(card_checkout.MAX_ATTEMPTS_PER_BALANCE):
        claim_attempt(db, invoice, invoice.amount_due).attempt.status = AttemptStatus.FAILED
        db.flush()
    with pytest.raises(TooManyAttempts):
        claim_attempt(db, invoice, invoice.amount_due)


def test_three_d_secure_hands_the_client_secret_to_the_page(db, gateway, localstripe, invoice):
    claim, outcome = charge(db, gateway, localstripe, invoice, card=CARD_3DS)
    assert outcome.status == "requires_action"
    assert outcome.client_secret.startswith(outcome.payment_intent_id)
    assert claim.attempt.status == AttemptStatus.STARTED
    localstripe.authenticate(outcome.payment_intent_id, outcome.client_secret)
    assert card_checkout.resume_attempt(db, gateway, claim.attempt).status == "processing"
    assert claim.attempt.status == AttemptStatus.PROCESSING


def test_minor_units():
    assert to_minor_units(Decimal("144.00"), "GBP") == 14400
    assert to_minor_units(Decimal("0.10"), "usd") == 10
    assert to_minor_units(Decimal("1500"), "JPY") == 1500
    assert from_minor_units(14401, "GBP") == Decimal("144.01")
    assert from_minor_units(1500, "JPY") == Decimal("1500")
    with pytest.raises(InvalidAmount):
        to_minor_units(Decimal("1.005"), "GBP")
    with pytest.raises(InvalidAmount):
        to_minor_units(Decimal("10.5"), "JPY")


# --- Settings ---------------------------------------------------------------------------

BOX = SecretBox.from_secret_key("test-secret-key-0123456789abcdef")


def change(**overrides) -> SettingsChange:
    values = {
        "offer_card": True,
        "offer_xero_online": True,
        "xero_only_with_link": True,
        "publishable_key": "pk_test_123",
        "secret_key": "sk_test_abcdefghijklmnop",
        "webhook_secret": "whsec_abcdefghijkl",
    }
    return SettingsChange(**{**values, **overrides})


def test_secret_keys_are_encrypted_at_rest(db):
    saved = card_checkout.save_payment_settings(db, BOX, change())
    assert saved.stripe_secret_key_encrypted not in ("", "sk_test_abcdefghijklmnop")
    assert "sk_test" not in saved.stripe_secret_key_encrypted
    assert "whsec_" not in saved.stripe_webhook_secret_encrypted
    keys = card_checkout.stripe_keys(saved, BOX, StripeKeys())
    assert keys == StripeKeys("pk_test_123", "sk_test_abcdefghijklmnop", "whsec_abcdefghijkl")
    assert db.query(PaymentSettings).count() == 1


def test_blank_secret_keeps_the_saved_one_and_clearing_falls_back_to_config(db):
    card_checkout.save_payment_settings(db, BOX, change())
    saved = card_checkout.save_payment_settings(db, BOX, change(secret_key=None))
    fallback = StripeKeys("pk_env", "sk_test_env", "whsec_env")
    assert card_checkout.stripe_keys(saved, BOX, fallback).secret_key.endswith("mnop")
    saved = card_checkout.save_payment_settings(
        db, BOX, change(secret_key="", webhook_secret="", publishable_key="")
    )
    assert card_checkout.stripe_keys(saved, BOX, fallback) == fallback
    assert db.query(PaymentSettings).count() == 1


def test_masked_shows_only_the_end():
    assert card_checkout.masked("sk_test_abcdefghijklmnop") == "…mnop"
    assert card_checkout.masked("short") == "…"
    assert card_checkout.masked("") == ""


def test_members_are_offered_only_the_enabled_methods(db, invoice):
    keys = StripeKeys("pk_test_1", "sk_test_1")
    options = card_checkout.payment_options
    settings = card_checkout.payment_settings(db)
    link = "https://in.xero.com/abc"
    assert options(settings, keys, invoice, link) == card_checkout.PaymentOptions(True, link)
    # Xero only once its online link is known (the default), or "on its way" if told so.
    assert options(settings, keys, invoice, "").xero_url == ""
    settings.xero_only_with_link = False
    assert options(settings, keys, invoice, "").xero_pending
    settings.offer_card = False
    assert not options(settings, keys, invoice, link).card
    settings.offer_card, settings.offer_xero_online = True, False
    assert options(settings, keys, invoice, link) == card_checkout.PaymentOptions(True, "")
    # Card needs both keys.
    assert not options(settings, StripeKeys("pk_test_1", ""), invoice, link).card
    # Nothing to pay, nothing offered.
    record_payment(db, invoice, amount=invoice.amount_due, paid_on=date.today(), method="manual")
    assert not options(settings, keys, invoice, link).any
