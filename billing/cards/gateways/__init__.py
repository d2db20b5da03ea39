"""Card payment gateways: the small interface the portal needs, and money in minor units.

The real adapter is ``stripe_gateway.StripeGateway``. Tests point it at localstripe (a
separate process speaking Stripe's API) through its ``api_base``, so there is no in-process
fake: the same code talks to Stripe and to the stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from billing.errors import BillingError, InvalidAmount

#: Currencies Stripe charges in whole units (amount 1000 JPY is ¥1000, not ¥10.00).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
#: Currencies with three decimals; Stripe wants the last digit 0 for these.
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_unit_exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit, refusing one that does not fit exactly."""
    scaled = amount.scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{amount} {currency.upper()} cannot be charged in whole units.")
    return int(scaled)


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


class GatewayError(BillingError):
    """The gateway could not be reached or refused the request; the message says why."""


class CardDeclined(GatewayError):
    """The card was declined. ``message`` is the gateway's reason, fit for the member."""

    def __init__(self, message: str, payment_intent_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.payment_intent_id = payment_intent_id


class GatewayNotFound(GatewayError):
    """The gateway has no such object (another account's id, or a deleted one)."""


@dataclass(frozen=True)
class SetupIntent:
    id: str
    client_secret: str


@dataclass(frozen=True)
class Charge:
    id: str
    payment_intent_id: str | None
    #: Minor units, like every amount the gateway gives.
    amount: int
    amount_refunded: int
    currency: str
    status: str
    #: Unix time of the charge.
    created: int


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    #: requires_payment_method, requires_confirmation, requires_action, processing,
    #: requires_capture, succeeded or canceled (Stripe's lifecycle).
    status: str
    amount: int
    amount_received: int
    currency: str
    client_secret: str
    metadata: dict[str, str] = field(default_factory=dict)
    latest_charge: Charge | None = None
    #: The gateway's message for the last failed attempt, as the member should read it.
    failure_message: str = ""


@dataclass(frozen=True)
class Refund:
    id: str
    payment_intent_id: str | None
    #: Minor units.
    amount: int
    currency: str
    #: pending, requires_action, succeeded, failed or canceled (Stripe's lifecycle).
    status: str


class CardGateway(Protocol):
    def create_setup_intent(self, metadata: dict[str, str]) -> SetupIntent: ...

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent:
        """Create a PaymentIntent without confirming it: it cannot take money yet, so its id
        can be put on record before anything is charged."""
        ...

    def confirm_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> PaymentIntent:
        """Confirm (charge) an intent made by ``create_payment_intent``. Raises CardDeclined
        on a decline; any other GatewayError leaves the outcome unknown."""
        ...

    def payment_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    def charge(self, charge_id: str) -> Charge: ...

    def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        """Cancel an intent that has not taken money (requires_action and the like)."""
        ...

    def refund(self, payment_intent_id: str, *, amount: int, idempotency_key: str) -> Refund:
        """Give back ``amount`` (minor units) of the intent's charge, once per key."""
        ...
