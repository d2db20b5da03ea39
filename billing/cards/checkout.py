"""Paying an invoice by card in the portal: each attempt, from the card form to the charge.

An invoice has at most one live card attempt (started, waiting for 3-D Secure, processing,
or of unknown outcome), whatever the amount and the payment revision. Claiming one locks the
invoice row (``billing.invoices.locking``) and looks for the live one: the same amount resumes it
(another tab, a reload); another amount first needs it cancelled at the gateway, which only
works while it has taken no money; while it is processing the member waits. So two tabs
never charge twice, even where the gateway ignores idempotency keys (localstripe).

Each attempt is a PaymentIntent created unconfirmed, its id put on record (committed), and
only then confirmed: should the confirmation go unanswered, the attempt is "unknown" and the
portal reads that intent by id before it charges the invoice again.

Declines are limited per invoice and per member per hour, and SetupIntents per member per
hour (counted in the database, so every worker process sees the same counts).

Nothing here records a payment: the money is recorded only from what Stripe says, by
``billing.cards.stripe_events`` (the webhook's job, or the member's "check now").
Operations flush, never commit; the caller commits (the web request ends its transaction
before calling Stripe, so no database lock is held while the gateway answers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from billing.cards.gateways import (
    CardDeclined,
    CardGateway,
    GatewayError,
    GatewayNotFound,
    PaymentIntent,
    SetupIntent,
    from_minor_units,
    to_minor_units,
)
from billing.cards.limits import (
    HOUR,
    MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR,
    TooManyAttempts,
    Tries,
    check_tries,
    tries_left,
)
from billing.cards.model import (
    LIVE_STATUSES,
    AttemptStatus,
    CardPaymentAttempt,
    CardSetupRequest,
    PaymentSettings,
)
from billing.cards.payment_settings import (
    StripeKeys,
)
from billing.db import outside_transaction, utcnow
from billing.errors import BillingError, InvalidAmount, InvoiceNotEditable, Overpayment
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceStatus
from billing.users import User

log = logging.getLogger(__name__)

#: A claim that never reached the gateway (the process died in between) is released after
#: this long, so the member is not told "in progress" for ever.
ABANDONED_AFTER = timedelta(minutes=10)


class PaymentInProgress(BillingError):
    """Another attempt for this invoice is live: the member waits or finishes it."""


@dataclass(frozen=True)
class PaymentOptions:
    card: bool
    #: Xero's online invoice ("Pay now" through Xero's payment service), when offered.
    xero_url: str
    #: Xero is offered but the invoice's online link is not known yet.
    xero_pending: bool = False
    #: The link is not stored yet but can be fetched the moment the member asks (the
    #: invoice is in Xero): the portal's own "pay via Xero" address fetches it.
    xero_on_demand: bool = False

    @property
    def any(self) -> bool:
        return self.card or bool(self.xero_url) or self.xero_on_demand


def payment_options(
    settings: PaymentSettings,
    keys: StripeKeys,
    invoice: Invoice,
    online_invoice_url: str,
    *,
    fetchable: bool = False,
) -> PaymentOptions:
    """How ``invoice`` can be paid now. ``fetchable``: its online link, not stored yet, can
    be fetched when the member asks (the invoice is in Xero)."""
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT or invoice.amount_due <= 0:
        return PaymentOptions(card=False, xero_url="")
    card = bool(settings.offer_card) and keys.can_charge
    xero_url = online_invoice_url if settings.offer_xero_online else ""
    pending = bool(settings.offer_xero_online) and not online_invoice_url
    if pending and fetchable:
        return PaymentOptions(card=card, xero_url="", xero_on_demand=True)
    if pending and not settings.xero_only_with_link:
        # Offered even before the link is stored: the page says it is on its way.
        return PaymentOptions(card=card, xero_url="", xero_pending=True)
    return PaymentOptions(card=card, xero_url=xero_url)


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


def idempotency_key(invoice: Invoice, amount: Decimal, number: int) -> str:
    """Unique per attempt: the invoice's attempts are numbered under its row lock."""
    return f"inv{invoice.id}-rev{invoice.payment_revision}-{amount}-a{number}"


def gateway_metadata(invoice: Invoice, attempt: CardPaymentAttempt | None = None) -> dict[str, str]:
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


def allow_card_setup(
    db: Session,
    invoice: Invoice,
    amount: Decimal,
    user_id: int | None,
    now: datetime | None = None,
) -> Decimal:
    """Before the card form's SetupIntent: the amount may be paid, the member is within the
    limits, no payment of another amount is processing. Counts this SetupIntent (flush)."""
    now = now or utcnow()
    amount = check_payable(invoice, amount)
    check_tries(db, invoice.id, user_id, now)
    live = live_attempt(db, invoice.id, now)
    if live is not None and live.status == AttemptStatus.PROCESSING and live.amount != amount:
        raise _in_progress(live)
    if user_id is None:
        return amount
    # The member's row is the lock: two workers counting at once cannot both let the last
    # SetupIntent of the hour through (SQLite: the write lock taken at BEGIN does the same).
    db.execute(select(User.id).where(User.id == user_id).with_for_update())
    recent = db.scalar(
        select(func.count()).where(
            CardSetupRequest.user_id == user_id, CardSetupRequest.at > now - HOUR
        )
    )
    if (recent or 0) >= MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR:
        raise TooManyAttempts(
            "The card form was opened too many times in the last hour. "
            "Please try again later, or contact us."
        )
    db.add(CardSetupRequest(user_id=user_id, at=now))
    # Old rows are worthless; trimming here keeps the table small without a cron job.
    db.execute(delete(CardSetupRequest).where(CardSetupRequest.at < now - 2 * HOUR))
    db.flush()
    return amount


def begin_card_setup(gateway: CardGateway, invoice: Invoice, amount: Decimal) -> SetupIntent:
    """The SetupIntent the page's card form confirms; nothing is charged yet. Call after
    ``allow_card_setup`` with its count committed."""
    check_payable(invoice, amount)
    return gateway.create_setup_intent(gateway_metadata(invoice))


def find_attempt(db: Session, key: str) -> CardPaymentAttempt | None:
    return db.scalar(select(CardPaymentAttempt).where(CardPaymentAttempt.idempotency_key == key))


def live_attempt(
    db: Session, invoice_id: int, now: datetime | None = None
) -> CardPaymentAttempt | None:
    """The invoice's live attempt (at most one: ``claim_attempt`` keeps it so), leaving out
    a claim abandoned before it reached the gateway."""
    live = db.scalar(
        select(CardPaymentAttempt)
        .where(
            CardPaymentAttempt.invoice_id == invoice_id,
            CardPaymentAttempt.status.in_(LIVE_STATUSES),
        )
        .order_by(CardPaymentAttempt.id.desc())
        .limit(1)
    )
    if live is not None and _abandoned(live, now or utcnow()):
        return None
    return live


@dataclass(frozen=True)
class Claim:
    attempt: CardPaymentAttempt
    #: True: a new attempt, to charge. False: the invoice's live attempt, to resume (another
    #: tab, a reload), or to settle first when ``blocked``.
    created: bool
    #: The live attempt stands in the way (another amount, or its outcome is unknown):
    #: ``settle_attempt`` asks the gateway and cancels it if it took no money, then claim again.
    blocked: bool = False


def claim_attempt(
    db: Session,
    invoice: Invoice,
    amount: Decimal,
    user_id: int | None = None,
    *,
    now: datetime | None = None,
) -> Claim:
    """Claim the invoice's one live card attempt for ``amount`` (flush; commit before calling
    the gateway). Locks the invoice first, so two tabs on two connections take turns."""
    now = now or utcnow()
    invoice = lock_invoice(db, invoice.id)
    amount = check_payable(invoice, amount)
    stale = db.scalars(
        select(CardPaymentAttempt).where(
            CardPaymentAttempt.invoice_id == invoice.id,
            CardPaymentAttempt.status == AttemptStatus.STARTED,
            CardPaymentAttempt.gateway_payment_id.is_(None),
        )
    )
    for attempt in stale:
        if _abandoned(attempt, now):
            _end(attempt, AttemptStatus.CANCELED, "The card payment was not completed.")
    db.flush()
    live = live_attempt(db, invoice.id, now)
    if live is not None:
        return _claim_over(live, amount)
    check_tries(db, invoice.id, user_id, now)
    number = db.scalar(select(func.count()).where(CardPaymentAttempt.invoice_id == invoice.id))
    attempt = CardPaymentAttempt(
        invoice_id=invoice.id,
        user_id=user_id,
        amount=amount,
        currency=invoice.currency,
        idempotency_key=idempotency_key(invoice, amount, (number or 0) + 1),
        status=AttemptStatus.STARTED,
        failure_message="",
        created_at=now,
    )
    db.add(attempt)
    db.flush()
    return Claim(attempt, created=True)


def _claim_over(live: CardPaymentAttempt, amount: Decimal) -> Claim:
    if live.status == AttemptStatus.UNKNOWN:
        return Claim(live, created=False, blocked=True)
    if live.amount == amount:
        return Claim(live, created=False)
    if live.status == AttemptStatus.PROCESSING or not live.gateway_payment_id:
        raise _in_progress(live)
    return Claim(live, created=False, blocked=True)


def _in_progress(live: CardPaymentAttempt) -> PaymentInProgress:
    if live.status == AttemptStatus.PROCESSING:
        return PaymentInProgress(
            f"A card payment of {live.amount} {live.currency} for this invoice is being "
            "processed. Please wait for it to complete."
        )
    if live.status == AttemptStatus.NEEDS_ACTION:
        return PaymentInProgress(
            f"A card payment of {live.amount} {live.currency} for this invoice is waiting "
            "for your bank's check (3-D Secure). Finish it, or try again in a moment."
        )
    return PaymentInProgress(
        "A card payment for this invoice is already in progress (in another tab or "
        "window?). Please wait a moment."
    )


def _abandoned(attempt: CardPaymentAttempt, now: datetime) -> bool:
    return (
        attempt.status == AttemptStatus.STARTED
        and not attempt.gateway_payment_id
        and attempt.created_at is not None
        and attempt.created_at < now - ABANDONED_AFTER
    )


def settle_attempt(
    db: Session, gateway: CardGateway, attempt: CardPaymentAttempt, amount: Decimal
) -> None:
    """A live attempt that blocks a claim, brought to what the gateway says (call with no
    transaction open; flushes). It is cancelled at the gateway while it can take no money
    (not confirmed yet, or waiting for 3-D Secure when ``amount`` differs). Then claim again:
    one that took money is processing, which that claim resumes or makes the member wait for."""
    if not attempt.gateway_payment_id:
        raise _in_progress(attempt)
    intent_id = attempt.gateway_payment_id
    intent = gateway.payment_intent(intent_id)
    cancellable = {"requires_confirmation"}
    if amount != attempt.amount:
        cancellable.add("requires_action")
    if intent.status in cancellable:
        try:
            intent = gateway.cancel_payment_intent(intent_id)
        except GatewayNotFound:
            raise
        except GatewayError as error:
            # Confirmed, or cancelled by another tab, in between: what it is now decides.
            log.info("cancelling %s: %s", intent_id, error)
            intent = gateway.payment_intent(intent_id)
    attempt = _relocked(db, attempt)
    note_intent(attempt, intent)
    db.flush()


def _relocked(db: Session, attempt: CardPaymentAttempt) -> CardPaymentAttempt:
    """The attempt re-read under its invoice's lock, before writing what the gateway said:
    another tab may have settled it meanwhile."""
    lock_invoice(db, attempt.invoice_id)
    db.refresh(attempt)
    return attempt


@dataclass(frozen=True)
class Outcome:
    """What the member's page does next."""

    #: processing (wait for the confirmation), requires_action (3-D Secure), failed,
    #: unknown (Stripe did not answer; the portal checks before any new charge)
    status: str
    message: str = ""
    client_secret: str = ""
    payment_intent_id: str = ""


#: The member's message when Stripe did not answer the charge.
UNKNOWN_MESSAGE = (
    "We could not hear back from Stripe, so we do not know yet whether your card was "
    "charged. We check with Stripe before taking any new payment for this invoice: "
    "please do not pay it another way meanwhile."
)


def charge_attempt(
    db: Session,
    gateway: CardGateway,
    attempt: CardPaymentAttempt,
    invoice: Invoice,
    payment_method_id: str,
) -> Outcome:
    """Create the attempt's PaymentIntent, put its id on record, then confirm it (call with
    the claim committed). This COMMITS once, between the two gateway calls: the intent's id
    must be on record before it can take money, so an unanswered confirmation is looked up
    by id and never charged again blindly."""
    key = attempt.idempotency_key
    try:
        intent = gateway.create_payment_intent(
            amount=to_minor_units(attempt.amount, attempt.currency),
            currency=attempt.currency,
            payment_method_id=payment_method_id,
            metadata=gateway_metadata(invoice, attempt),
            idempotency_key=key,
        )
    except GatewayError as error:
        # An unconfirmed intent takes no money: whatever Stripe did, nothing was charged.
        log.warning("card payment %s not created: %s", key, error)
        attempt = _relocked(db, attempt)
        _end(attempt, AttemptStatus.CANCELED, "The card payment could not be started.")
        db.flush()
        return Outcome("failed", "The card payment could not be started. Please try again.")
    attempt = _relocked(db, attempt)
    attempt.gateway_payment_id = intent.id
    outside_transaction(db)  # on record before the confirmation can take money

    try:
        intent = gateway.confirm_payment_intent(intent.id, idempotency_key=f"{key}-confirm")
    except CardDeclined as declined:
        attempt = _relocked(db, attempt)
        _end(attempt, AttemptStatus.FAILED, declined.message or "Your card was declined.")
        db.flush()
        return Outcome("failed", attempt.failure_message, "", intent.id)
    except GatewayError as error:
        log.warning("card payment %s (%s) unanswered: %s", key, intent.id, error)
        attempt = _relocked(db, attempt)
        if attempt.status in LIVE_STATUSES:
            attempt.status = AttemptStatus.UNKNOWN
            attempt.failure_message = ""
        db.flush()
        return Outcome("unknown", UNKNOWN_MESSAGE, "", intent.id)
    attempt = _relocked(db, attempt)
    outcome = note_intent(attempt, intent)
    db.flush()
    return outcome


def resume_attempt(db: Session, gateway: CardGateway, attempt: CardPaymentAttempt) -> Outcome:
    """The invoice's live attempt for this amount (another tab, a reload): where it stands."""
    if attempt.status == AttemptStatus.SUCCEEDED:
        return Outcome("processing", payment_intent_id=attempt.gateway_payment_id or "")
    if not attempt.gateway_payment_id:
        raise _in_progress(attempt)
    intent = gateway.payment_intent(attempt.gateway_payment_id)
    attempt = _relocked(db, attempt)
    outcome = note_intent(attempt, intent)
    db.flush()
    if outcome.status == "started":
        raise _in_progress(attempt)
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
    if intent.status == "requires_action":
        attempt.status = AttemptStatus.NEEDS_ACTION
        return Outcome("requires_action", "", intent.client_secret, intent.id)
    if intent.status == "requires_confirmation":
        # Created, its confirmation not (yet) arrived.
        if attempt.status == AttemptStatus.UNKNOWN:
            attempt.status = AttemptStatus.STARTED
        return Outcome("started", payment_intent_id=intent.id)
    if intent.status == "canceled":
        _end(attempt, AttemptStatus.CANCELED, "The card payment was cancelled.")
        return Outcome("failed", attempt.failure_message, "", intent.id)
    _end(
        attempt,
        AttemptStatus.FAILED,
        intent.failure_message or "The card payment was not completed.",
    )
    return Outcome("failed", attempt.failure_message, "", intent.id)


def _end(attempt: CardPaymentAttempt, status: AttemptStatus, message: str) -> None:
    if attempt.status != AttemptStatus.SUCCEEDED:
        attempt.status = status
        attempt.failure_message = message


@dataclass(frozen=True)
class CardStatus:
    #: The invoice's live attempt (started, 3-D Secure pending, processing, unknown).
    live: CardPaymentAttempt | None
    #: The latest attempt, when it was declined (its message is shown).
    declined: CardPaymentAttempt | None
    tries: Tries


def card_status(
    db: Session, invoice: Invoice, user_id: int | None, now: datetime | None = None
) -> CardStatus:
    now = now or utcnow()
    live = live_attempt(db, invoice.id, now)
    latest = db.scalar(
        select(CardPaymentAttempt)
        .where(CardPaymentAttempt.invoice_id == invoice.id)
        .order_by(CardPaymentAttempt.id.desc())
        .limit(1)
    )
    declined = latest if latest is not None and latest.status == AttemptStatus.FAILED else None
    return CardStatus(live, declined, tries_left(db, invoice.id, user_id, now))
