"""Card checkout against localstripe: one live attempt per invoice, refusals before Stripe is
called, declines and their limits, 3-D Secure, unanswered charges, and the payment settings.
(Two tabs on two connections: tests/billing/test_card_races.py.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from billing.cards import checkout as card_checkout
from billing.cards import limits as card_limits
from billing.cards import payment_settings as card_settings
from billing.cards.checkout import PaymentInProgress, claim_attempt
from billing.cards.gateways import GatewayError, from_minor_units, to_minor_units
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.cards.limits import TooManyAttempts
from billing.cards.model import (
    AttemptStatus,
    CardPaymentAttempt,
    CardSetupRequest,
    PaymentSettings,
)
from billing.cards.payment_settings import SettingsChange, StripeKeys
from billing.db import utcnow
from billing.encryption import SecretBox
from billing.errors import InvalidAmount, InvoiceNotEditable, Overpayment
from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment
from tests import localstripe as stripe_stand_in
from tests.factories import CustomerFactory, MemberFactory, ServiceFactory, make_invoice
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


def charge(db, gateway, localstripe, invoice, amount=None, card=None, user_id=None):
    claim = claim_attempt(db, invoice, amount or invoice.amount_due, user_id)
    db.commit()
    assert claim.created
    pm = localstripe.card_payment_method(card) if card else localstripe.card_payment_method()
    return claim, card_checkout.charge_attempt(db, gateway, claim.attempt, invoice, pm)


def charged(intents: list[dict]) -> list[dict]:
    """The intents that took money (localstripe leaves amount_received out)."""
    return [pi for pi in intents if pi["status"] in ("succeeded", "processing")]


def decline(db, invoice, amount, user_id=None, now=None):
    """An attempt that ends declined: the state a card decline leaves (see the real one in
    test_a_decline_keeps_the_message_and_counts)."""
    attempt = claim_attempt(db, invoice, Decimal(amount), user_id, now=now).attempt
    attempt.status = AttemptStatus.FAILED
    attempt.failure_message = "Your card was declined."
    db.flush()
    return attempt


class Unanswered:
    """The real gateway, except that one call reaches localstripe and then its answer is
    lost (a time-out, a dropped connection): GatewayError after the fact."""

    def __init__(self, gateway: StripeGateway, call: str, reach: bool = True):
        self._gateway, self._call, self._reach = gateway, call, reach

    def __getattr__(self, name):
        real = getattr(self._gateway, name)
        if name != self._call:
            return real

        def lost(*args, **kwargs):
            if self._reach:
                real(*args, **kwargs)
            raise GatewayError("Stripe: Request timed out")

        return lost


def test_key_names_invoice_revision_amount_and_number(db, invoice):
    assert invoice.amount_due == Decimal("144.00")
    claim = claim_attempt(db, invoice, Decimal("144.00"))
    assert claim.created
    key = f"inv{invoice.id}-rev{invoice.payment_revision}-144.00-a1"
    assert claim.attempt.idempotency_key == key
    assert (claim.attempt.amount, claim.attempt.currency) == (Decimal("144.00"), "GBP")
    assert claim.attempt.status == AttemptStatus.STARTED
    claim.attempt.status = AttemptStatus.CANCELED
    record_payment(db, invoice, amount=Decimal("44.00"), paid_on=date.today(), method="manual")
    second = claim_attempt(db, invoice, Decimal("100.00")).attempt.idempotency_key
    assert second == f"inv{invoice.id}-rev{invoice.payment_revision}-100.00-a2"


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
    with pytest.raises(error):
        card_checkout.allow_card_setup(db, invoice, Decimal(amount), None)
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
    assert intent["status"] == "succeeded"
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
    assert not second.created and not second.blocked and second.attempt.id == first.attempt.id
    again = card_checkout.resume_attempt(db, gateway, second.attempt)
    assert again.status == "processing"
    assert again.payment_intent_id == outcome.payment_intent_id
    assert len(new_intents(invoice.id)) == 1


def test_a_tab_that_finds_the_attempt_claimed_but_unsent_waits(db, gateway, invoice):
    claim_attempt(db, invoice, invoice.amount_due)
    other_tab = claim_attempt(db, invoice, invoice.amount_due)
    with pytest.raises(PaymentInProgress):
        card_checkout.resume_attempt(db, gateway, other_tab.attempt)
    # Another amount waits too: there is no intent to cancel yet.
    with pytest.raises(PaymentInProgress, match="already in progress"):
        claim_attempt(db, invoice, Decimal("10.00"))


def test_a_claim_that_never_reached_stripe_is_released_after_a_while(db, gateway, invoice):
    now = utcnow()
    stuck = claim_attempt(db, invoice, invoice.amount_due, now=now).attempt
    later = now + card_checkout.ABANDONED_AFTER + timedelta(seconds=1)
    fresh = claim_attempt(db, invoice, Decimal("10.00"), now=later)
    assert fresh.created and fresh.attempt.idempotency_key.endswith("-10.00-a2")
    assert stuck.status == AttemptStatus.CANCELED
    # Released, not declined: it costs the member no try.
    assert card_limits.tries_left(db, invoice.id, None, later).left == 5


def test_another_amount_waits_while_a_payment_is_processing(
    db, gateway, localstripe, invoice, new_intents
):
    charge(db, gateway, localstripe, invoice, amount=Decimal("100.00"))
    with pytest.raises(PaymentInProgress, match="100.00 GBP for this invoice is being processed"):
        claim_attempt(db, invoice, Decimal("44.00"))
    assert len(new_intents(invoice.id)) == 1


def test_another_amount_cancels_a_payment_waiting_for_3d_secure_first(
    db, gateway, localstripe, invoice, new_intents
):
    """Found on main: a 3-D Secure attempt and a second tab's other amount were both charged."""
    waiting, outcome = charge(db, gateway, localstripe, invoice, card=CARD_3DS)
    assert outcome.status == "requires_action"
    assert waiting.attempt.status == AttemptStatus.NEEDS_ACTION

    blocked = claim_attempt(db, invoice, Decimal("100.00"))
    assert blocked.blocked and blocked.attempt.id == waiting.attempt.id
    db.commit()
    card_checkout.settle_attempt(db, gateway, blocked.attempt, Decimal("100.00"))
    db.commit()
    assert waiting.attempt.status == AttemptStatus.CANCELED
    _, second = charge(db, gateway, localstripe, invoice, amount=Decimal("100.00"))
    assert second.status == "processing"

    # The first tab's member finishes 3-D Secure now: its intent is cancelled, no money.
    with pytest.raises(requests.HTTPError):
        localstripe.authenticate(outcome.payment_intent_id, outcome.client_secret)
    by_id = {pi["id"]: pi for pi in new_intents(invoice.id)}
    assert by_id[outcome.payment_intent_id]["status"] == "canceled"
    assert [pi["amount"] for pi in charged(list(by_id.values()))] == [10000]


def test_the_same_amount_resumes_the_3d_secure_payment(
    db, gateway, localstripe, invoice, new_intents
):
    claim, outcome = charge(db, gateway, localstripe, invoice, card=CARD_3DS)
    again = claim_attempt(db, invoice, invoice.amount_due)
    assert not again.created and not again.blocked
    resumed = card_checkout.resume_attempt(db, gateway, again.attempt)
    assert (resumed.status, resumed.client_secret) == ("requires_action", outcome.client_secret)
    localstripe.authenticate(outcome.payment_intent_id, outcome.client_secret)
    assert card_checkout.resume_attempt(db, gateway, claim.attempt).status == "processing"
    assert claim.attempt.status == AttemptStatus.PROCESSING
    assert len(new_intents(invoice.id)) == 1


def test_a_decline_keeps_the_message_and_counts(db, gateway, localstripe, invoice):
    claim, outcome = charge(db, gateway, localstripe, invoice, card=CARD_DECLINED_ON_CHARGE)
    assert outcome.status == "failed"
    assert outcome.message == "Your card was declined."
    assert claim.attempt.status == AttemptStatus.FAILED
    assert claim.attempt.failure_message == "Your card was declined."
    assert invoice.amount_paid == 0 and invoice.status == "awaiting_payment"
    assert card_limits.tries_left(db, invoice.id, None).left == 4

    retry, outcome = charge(db, gateway, localstripe, invoice)
    assert retry.attempt.idempotency_key.endswith("-a2")
    assert outcome.status == "processing"


def test_declines_are_limited_per_invoice_whatever_the_amount(db, invoice):
    """Found on main: each amount (10.00, 10.01, ...) had five declines of its own."""
    for cents in range(card_limits.MAX_DECLINES_PER_INVOICE):
        decline(db, invoice, f"10.{cents:02d}")
    with pytest.raises(TooManyAttempts, match="declined too many times"):
        claim_attempt(db, invoice, Decimal("10.99"))
    with pytest.raises(TooManyAttempts):
        claim_attempt(db, invoice, invoice.amount_due)
    with pytest.raises(TooManyAttempts):
        card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), None)


def test_declines_are_limited_per_member_per_rolling_hour(db, invoice):
    member = MemberFactory(customer=invoice.customer)
    invoices = [invoice] + [
        make_invoice(db, invoice.customer, [(ServiceFactory(unit_price=Decimal("50")), "1")])
        for _ in range(2)
    ]
    start = utcnow()
    for n in range(card_limits.MAX_DECLINES_PER_MEMBER_PER_HOUR):
        decline(db, invoices[n % 3], "1.00", member.id, now=start + timedelta(minutes=n))
    last = start + timedelta(minutes=9)
    fourth = make_invoice(db, invoice.customer, [(ServiceFactory(unit_price=Decimal("50")), "1")])
    tries = card_limits.tries_left(db, fourth.id, member.id, last)
    assert tries.left == 0 and "last hour" in tries.refusal
    with pytest.raises(TooManyAttempts, match="last hour"):
        claim_attempt(db, fourth, Decimal("1.00"), member.id, now=last)
    # Another member of the company is not held back; nor this one an hour later.
    other = MemberFactory(customer=invoice.customer)
    assert claim_attempt(db, fourth, Decimal("1.00"), other.id, now=last).created
    fourth_attempt = db.query(CardPaymentAttempt).filter_by(invoice_id=fourth.id).one()
    fourth_attempt.status = AttemptStatus.CANCELED
    an_hour_on = start + card_limits.HOUR + timedelta(seconds=1)
    assert card_limits.tries_left(db, fourth.id, member.id, an_hour_on).left == 1
    assert claim_attempt(db, fourth, Decimal("1.00"), member.id, now=an_hour_on).created


def test_card_forms_are_limited_per_member_per_rolling_hour(db, invoice):
    member = MemberFactory(customer=invoice.customer)
    start = utcnow()
    for n in range(card_limits.MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR):
        at = start + timedelta(minutes=n)
        card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), member.id, at)
    late = start + timedelta(minutes=30)
    with pytest.raises(TooManyAttempts, match="card form"):
        card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), member.id, late)
    other = MemberFactory(customer=invoice.customer)
    card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), other.id, late)
    # The first one leaves the window after an hour, making room for one more.
    after = start + card_limits.HOUR + timedelta(seconds=30)
    card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), member.id, after)
    with pytest.raises(TooManyAttempts):
        card_checkout.allow_card_setup(db, invoice, Decimal("1.00"), member.id, after)
    counted = db.scalar(select(func.count()).where(CardSetupRequest.user_id == member.id))
    assert counted == card_limits.MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR + 1


def test_an_unanswered_charge_is_unknown_and_looked_up_before_any_new_charge(
    db, gateway, localstripe, invoice, new_intents
):
    """Found on main: after a time-out the retry used a fresh key and charged again."""
    lossy = Unanswered(gateway, "confirm_payment_intent")
    claim, outcome = charge(db, lossy, localstripe, invoice)
    assert outcome.status == "unknown"
    attempt = claim.attempt
    assert attempt.status == AttemptStatus.UNKNOWN
    [intent] = new_intents(invoice.id)
    assert intent["id"] == attempt.gateway_payment_id and intent["status"] == "succeeded"

    # The member tries again (another amount here): the portal asks Stripe first.
    again = claim_attempt(db, invoice, Decimal("100.00"))
    assert again.blocked and again.attempt.id == attempt.id
    db.commit()
    card_checkout.settle_attempt(db, gateway, again.attempt, Decimal("100.00"))
    db.commit()
    assert attempt.status == AttemptStatus.PROCESSING
    # Known to be processing now: another amount waits, the same amount resumes it.
    with pytest.raises(PaymentInProgress, match="144.00 GBP for this invoice is being processed"):
        claim_attempt(db, invoice, Decimal("100.00"))
    same = claim_attempt(db, invoice, invoice.amount_due)
    assert same.attempt.id == attempt.id and not same.created and not same.blocked
    assert len(new_intents(invoice.id)) == 1


def test_an_unanswered_charge_that_took_no_money_is_cancelled_then_charged_once(
    db, gateway, localstripe, invoice, new_intents
):
    # The confirmation never reached Stripe: the intent exists, unconfirmed.
    lossy = Unanswered(gateway, "confirm_payment_intent", reach=False)
    claim, outcome = charge(db, lossy, localstripe, invoice)
    assert outcome.status == "unknown" and claim.attempt.status == AttemptStatus.UNKNOWN

    again = claim_attempt(db, invoice, invoice.amount_due)
    assert again.blocked
    db.commit()
    card_checkout.settle_attempt(db, gateway, again.attempt, invoice.amount_due)
    db.commit()
    # Cancelled at Stripe first, so a late confirmation cannot charge it.
    assert claim.attempt.status == AttemptStatus.CANCELED
    first_id = claim.attempt.gateway_payment_id
    assert localstripe.api("GET", f"/v1/payment_intents/{first_id}")["status"] == "canceled"
    _, outcome = charge(db, gateway, localstripe, invoice)
    assert outcome.status == "processing"
    assert [pi["amount"] for pi in charged(new_intents(invoice.id))] == [14400]
    assert card_limits.tries_left(db, invoice.id, None).left == 5


def test_an_unanswered_create_charged_nothing(db, gateway, localstripe, invoice, new_intents):
    lossy = Unanswered(gateway, "create_payment_intent")
    claim, outcome = charge(db, lossy, localstripe, invoice)
    assert outcome.status == "failed" and "could not be started" in outcome.message
    assert claim.attempt.status == AttemptStatus.CANCELED
    [orphan] = new_intents(invoice.id)
    assert orphan["status"] == "requires_confirmation"  # never confirmed: it cannot charge
    _, outcome = charge(db, gateway, localstripe, invoice)
    assert outcome.status == "processing"
    assert len(charged(new_intents(invoice.id))) == 1


def test_three_d_secure_hands_the_client_secret_to_the_page(db, gateway, localstripe, invoice):
    claim, outcome = charge(db, gateway, localstripe, invoice, card=CARD_3DS)
    assert outcome.status == "requires_action"
    assert outcome.client_secret.startswith(outcome.payment_intent_id)
    assert claim.attempt.status == AttemptStatus.NEEDS_ACTION
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
    saved = card_settings.save_payment_settings(db, BOX, change())
    assert saved.stripe_secret_key_encrypted not in ("", "sk_test_abcdefghijklmnop")
    assert "sk_test" not in saved.stripe_secret_key_encrypted
    assert "whsec_" not in saved.stripe_webhook_secret_encrypted
    keys = card_settings.stripe_keys(saved, BOX, StripeKeys())
    assert keys == StripeKeys("pk_test_123", "sk_test_abcdefghijklmnop", "whsec_abcdefghijkl")
    assert db.query(PaymentSettings).count() == 1


def test_blank_secret_keeps_the_saved_one_and_clearing_falls_back_to_config(db):
    card_settings.save_payment_settings(db, BOX, change())
    saved = card_settings.save_payment_settings(db, BOX, change(secret_key=None))
    fallback = StripeKeys("pk_env", "sk_test_env", "whsec_env")
    assert card_settings.stripe_keys(saved, BOX, fallback).secret_key.endswith("mnop")
    saved = card_settings.save_payment_settings(
        db, BOX, change(secret_key="", webhook_secret="", publishable_key="")
    )
    assert card_settings.stripe_keys(saved, BOX, fallback) == fallback
    assert db.query(PaymentSettings).count() == 1


def test_masked_shows_only_the_end():
    assert card_settings.masked("sk_test_abcdefghijklmnop") == "…mnop"
    assert card_settings.masked("short") == "…"
    assert card_settings.masked("") == ""


def test_members_are_offered_only_the_enabled_methods(db, invoice):
    keys = StripeKeys("pk_test_1", "sk_test_1")
    options = card_checkout.payment_options
    settings = card_settings.payment_settings(db)
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
