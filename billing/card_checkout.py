"""Paying an invoice by card in the portal: the payment settings, and each attempt.

A member's attempt is one PaymentIntent for one amount at one payment revision of the
invoice, created and confirmed under the idempotency key ``inv{id}-rev{revision}-{amount}``.
The key is claimed as a CardPaymentAttempt row (unique) before Stripe is called, so two tabs
paying the same balance make one charge even where the gateway ignores idempotency keys
(localstripe). A declined attempt frees the next key (``...-retry1`` and so on), a few times.

Nothing here records a payment: the money is recorded only from what Stripe says, by
``billing.stripe_events`` (the webhook's job, or the member's "check now").
Operations flush, never commit; the caller commits (the web request ends its transaction
before calling Stripe, so no database lock is held while the gateway answers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.card_payments import AttemptStatus, CardPaymentAttempt, PaymentSettings
from billing.db import utcnow
from billing.encryption import SecretBox
from billing.errors import BillingError, InvalidAmount, InvoiceNotEditable, Overpayment
from billing.gateways import (
    CardDeclined,
    CardGateway,
    GatewayError,
    PaymentIntent,
    SetupIntent,
    from_minor_units,
    to_minor_units,
)
from billing.invoices import Invoice, InvoiceStatus

log = logging.getLogger(__name__)

#: Declined attempts allowed per invoice balance: enough for a typo or a second card, few
#: enough that the portal is no use for testing stolen card numbers.
MAX_ATTEMPTS_PER_BALANCE = 5
#: A claim that never reached the gateway (the process died in between) frees its key after
#: this long, so the member is not told "in progress" for ever.
ABANDONED_AFTER = timedelta(minutes=10)


class PaymentInProgress(BillingError):
    """Another attempt for this invoice is already with the gateway."""


class TooManyAttempts(BillingError):
    """Too many declined attempts for this balance."""


# --- Settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeKeys:
    publishable_key: str = ""
    secret_key: str = ""
    webhook_secret: str = ""

    @property
    def can_charge(self) -> bool:
        return bool(self.publishable_key and self.secret_key)


@dataclass(frozen=True)
class SettingsChange:
    offer_card: bool
    offer_xero_online: bool
    xero_only_with_link: bool
    publishable_key: str
    #: None keeps the stored secret; "" clears it.
    secret_key: str | None = None
    webhook_secret: str | None = None


def payment_settings(db: Session) -> PaymentSettings:
    """The settings row, or unsaved defaults when an admin never saved any."""
    found = db.scalar(select(PaymentSettings).order_by(PaymentSettings.id).limit(1))
    if found is not None:
        return found
    return PaymentSettings(
        offer_card=True,
        offer_xero_online=True,
        xero_only_with_link=True,
        stripe_publishable_key="",
        stripe_secret_key_encrypted="",
        stripe_webhook_secret_encrypted="",
    )


def save_payment_settings(db: Session, box: SecretBox, change: SettingsChange) -> PaymentSettings:
    settings = payment_settings(db)
    settings.offer_card = change.offer_card
    settings.offer_xero_online = change.offer_xero_online
    settings.xero_only_with_link = change.xero_only_with_link
    settings.stripe_publishable_key = change.publishable_key.strip()
    if change.secret_key is not None:
        secret = change.secret_key.strip()
        settings.stripe_secret_key_encrypted = box.encrypt(secret) if secret else ""
    if change.webhook_secret is not None:
        secret = change.webhook_secret.strip()
        settings.stripe_webhook_secret_encrypted = box.encrypt(secret) if secret else ""
    db.add(settings)
    db.flush()
    return settings


def stripe_keys(settings: PaymentSettings, box: SecretBox, fallback: StripeKeys) -> StripeKeys:
    """Keys saved by an admin win, each on its own; configuration fills the gaps."""

    def secret(token: str, default: str) -> str:
        if not token:
            return default
        try:
            return box.decrypt(token)
        except ValueError:
            log.error("a stored Stripe key cannot be decrypted (was ENCRYPTION_KEY changed?)")
            return default

    return StripeKeys(
        publishable_key=settings.stripe_publishable_key or fallback.publishable_key,
        secret_key=secret(settings.stripe_secret_key_encrypted, fallback.secret_key),
        webhook_secret=secret(settings.stripe_webhook_secret_encrypted, fallback.webhook_secret),
    )


def masked(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if not secret:
        return ""
    return f"…{secret[-4:]}" if len(secret) > 12 else "…"


@dataclass(frozen=True)
class PaymentOptions:
    card: bool
    #: Xero's online invoice ("Pay now" through Xero's payment service), when offered.
    xero_url: str
    #: Xero is offered but the invoice's online link is not known yet.
    xero_pending: bool = False

    @property
    def any(self) -> bool:
        return self.card or bool(self.xero_url)


def payment_options(
    settings: PaymentSettings, keys: StripeKeys, invoice: Invoice, online_invoice_url: str
) -> PaymentOptions:
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT or invoice.amount_due <= 0:
        return PaymentOptions(card=False, xero_url="")
    card = bool(settings.offer_card) and keys.can_charge
    xero_url = online_invoice_url if settings.offer_xero_online else ""
    pending = bool(settings.offer_xero_online) and not online_invoice_url
    if pending and not settings.xero_only_with_link:
        # Offered even before the link is stored: the page says it is on its way.
        return PaymentOptions(card=card, xero_url="", xero_pending=True)
    return PaymentOptions(card=card, xero_url=xero_url)


# --- Attempts ---------------------------------------------------------------------------


def check_payable(invoice: Invoice, amount: Decimal) -> Decimal:
    """The amount, if a card payment of it may be taken now; refused before any gateway call."""
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        raise InvoiceNotEditable(f"Invoice {invoice.display_number} is not awaiting payment.")
    if amount <= 0:
        raise InvalidAmount("The amount to pay must be above zero.")
    if amount > invoice.amount_due:
        raise Overpayment(
            f"The amount to pay ({amount}) is more than the {invoice.amount_due} due."
        )
    # Exactly representable in the currency's minor units, or refused.
    return from_minor_units(to_minor_units(amount, invoice.currency), invoice.currency)


def idempotency_key(invoice: Invoice, amount: Decimal, retry: int = 0) -> str:
    key = f"inv{invoice.id}-rev{invoice.payment_revision}-{amount}"
    return f"{key}-retry{retry}" if retry else key


def gateway_metadata(invoice: Invoice, attempt: CardPaymentAttempt | None = None) -> dict:
    """What the gateway keeps with the payment: how the webhook finds the invoice again,
    and what an admin reading Stripe's dashboard needs."""
    data = {
        "portal_invoice_id": str(invoice.id),
        "portal_invoice_number": invoice.display_number,
        "portal_customer_id": str(invoice.customer_id),
        "portal_customer": invoice.customer.name if invoice.customer else "",
    }
    if attempt is not None:
        data["portal_payment_key"] = attempt.idempotency_key
    return data


def begin_card_setup(gateway: CardGateway, invoice: Invoice, amount: Decimal) -> SetupIntent:
    """The SetupIntent the page's card form confirms; nothing is charged yet."""
    check_payable(invoice, amount)
    return gateway.create_setup_intent(gateway_metadata(invoice))


def find_attempt(db: Session, key: str) -> CardPaymentAttempt | None:
    return db.scalar(select(CardPaymentAttempt).where(CardPaymentAttempt.idempotency_key == key))


@dataclass(frozen=True)
class Claim:
    attempt: CardPaymentAttempt
    #: False: the key was already claimed (another tab, a double click); do not charge again.
    created: bool


def claim_attempt(
    db: Session, invoice: Invoice, amount: Decimal, user_id: int | None = None
) -> Claim:
    amount = check_payable(invoice, amount)
    for retry in range(MAX_ATTEMPTS_PER_BALANCE):
        key = idempotency_key(invoice, amount, retry)
        existing = find_attempt(db, key)
        if existing is not None and _abandoned(existing):
            _fail(existing, "The card payment was not completed.")
        if existing is not None and existing.status == AttemptStatus.FAILED:
            continue
        if existing is not None:
            return Claim(existing, created=False)
        _refuse_while_processing(db, invoice, key)
        attempt = CardPaymentAttempt(
            invoice_id=invoice.id,
            user_id=user_id,
            amount=amount,
            currency=invoice.currency,
            idempotency_key=key,
            status=AttemptStatus.STARTED,
            failure_message="",
        )
        try:
            with db.begin_nested():
                db.add(attempt)
        except IntegrityError:
            # Another tab claimed the key between the look-up and the insert.
            winner = find_attempt(db, key)
            if winner is None:
                raise
            return Claim(winner, created=False)
        return Claim(attempt, created=True)
    raise TooManyAttempts(
        "This card payment was declined too many times. Please contact us to pay this invoice."
    )


def _abandoned(attempt: CardPaymentAttempt) -> bool:
    return (
        attempt.status == AttemptStatus.STARTED
        and not attempt.gateway_payment_id
        and attempt.created_at is not None
        and attempt.created_at < utcnow() - ABANDONED_AFTER
    )


def _refuse_while_processing(db: Session, invoice: Invoice, key: str) -> None:
    """A different amount while a payment is with the gateway could pay the invoice twice."""
    busy = db.scalar(
        select(CardPaymentAttempt.id).where(
            CardPaymentAttempt.invoice_id == invoice.id,
            CardPaymentAttempt.idempotency_key.startswith(_revision_prefix(invoice)),
            CardPaymentAttempt.idempotency_key != key,
            CardPaymentAttempt.status == AttemptStatus.PROCESSING,
        )
    )
    if busy is not None:
        raise PaymentInProgress(
            "A card payment for this invoice is already being processed. "
            "Please wait for it to complete."
        )


def _revision_prefix(invoice: Invoice) -> str:
    return f"inv{invoice.id}-rev{invoice.payment_revision}-"


@dataclass(frozen=True)
class Outcome:
    """What the member's page does next."""

    #: processing (wait for the confirmation), requires_action (3-D Secure), failed
    status: str
    message: str = ""
    client_secret: str = ""
    payment_intent_id: str = ""


def charge_attempt(
    db: Session,
    gateway: CardGateway,
    attempt: CardPaymentAttempt,
    invoice: Invoice,
    payment_method_id: str,
) -> Outcome:
    """Create and confirm the attempt's PaymentIntent (call with the claim committed)."""
    try:
        intent = gateway.charge_card(
            amount=to_minor_units(attempt.amount, attempt.currency),
            currency=attempt.currency,
            payment_method_id=payment_method_id,
            metadata=gateway_metadata(invoice, attempt),
            idempotency_key=attempt.idempotency_key,
        )
    except CardDeclined as declined:
        _fail(attempt, declined.message or "Your card was declined.")
        if declined.payment_intent_id and attempt.gateway_payment_id is None:
            attempt.gateway_payment_id = declined.payment_intent_id
        db.flush()
        return Outcome("failed", attempt.failure_message, "", attempt.gateway_payment_id or "")
    except GatewayError as error:
        # The outcome is not known for certain. The attempt gives up its key; should the
        # gateway have charged after all, its webhook still records the payment.
        log.warning("card payment %s: %s", attempt.idempotency_key, error)
        _fail(attempt, "The card payment could not be completed. Please try again.")
        db.flush()
        return Outcome("failed", attempt.failure_message)
    outcome = note_intent(attempt, intent)
    db.flush()
    return outcome


def resume_attempt(db: Session, gateway: CardGateway, attempt: CardPaymentAttempt) -> Outcome:
    """An attempt claimed before (another tab, a reload): where it stands at the gateway."""
    if attempt.status == AttemptStatus.SUCCEEDED:
        return Outcome("processing", payment_intent_id=attempt.gateway_payment_id or "")
    if not attempt.gateway_payment_id:
        raise PaymentInProgress(
            "A card payment for this invoice is already in progress. Please wait a moment."
        )
    outcome = note_intent(attempt, gateway.payment_intent(attempt.gateway_payment_id))
    db.flush()
    return outcome


def note_intent(attempt: CardPaymentAttempt, intent: PaymentIntent) -> Outcome:
    """Bring the attempt up to the intent's state; it never moves back from succeeded."""
    if attempt.gateway_payment_id is None:
        attempt.gateway_payment_id = intent.id
    if attempt.status == AttemptStatus.SUCCEEDED:
        return Outcome("processing", payment_intent_id=intent.id)
    if intent.status in ("succeeded", "processing", "requires_capture"):
        attempt.status = AttemptStatus.PROCESSING
        attempt.failure_message = ""
        return Outcome("processing", payment_intent_id=intent.id)
    if intent.status in ("requires_action", "requires_confirmation"):
        attempt.status = AttemptStatus.STARTED
        return Outcome("requires_action", "", intent.client_secret, intent.id)
    _fail(attempt, intent.failure_message or "The card payment was not completed.")
    return Outcome("failed", attempt.failure_message, "", intent.id)


def _fail(attempt: CardPaymentAttempt, message: str) -> None:
    if attempt.status != AttemptStatus.SUCCEEDED:
        attempt.status = AttemptStatus.FAILED
        attempt.failure_message = message


def current_attempt(db: Session, invoice: Invoice) -> CardPaymentAttempt | None:
    """The latest attempt at the invoice's current balance (what its page reports)."""
    return db.scalar(
        select(CardPaymentAttempt)
        .where(
            CardPaymentAttempt.invoice_id == invoice.id,
            CardPaymentAttempt.idempotency_key.startswith(_revision_prefix(invoice)),
        )
        .order_by(CardPaymentAttempt.id.desc())
        .limit(1)
    )
