"""The Stripe adapter, over the official ``stripe`` library.

``api_base`` empty means Stripe itself; tests give localstripe's address. Only parameters
both understand are sent (``payment_method_types=["card"]``, never automatic payment
methods), and ``latest_charge`` is always expanded so both answer in the same shape.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

import stripe

from billing.cards.gateways import (
    CardDeclined,
    Charge,
    GatewayError,
    GatewayNotFound,
    PaymentIntent,
    Refund,
    SetupIntent,
)

#: Seconds to connect and to wait for an answer: a member is waiting on the other end.
TIMEOUT = (5, 30)


class StripeGateway:
    def __init__(self, secret_key: str, *, api_base: str = "", max_network_retries: int = 2):
        if not secret_key:
            raise GatewayError("Card payments are not set up: the Stripe secret key is missing.")
        options: dict[str, Any] = {
            # Retries are safe: the library resends POSTs with the same Idempotency-Key.
            "max_network_retries": max_network_retries,
            "http_client": stripe.new_default_http_client(timeout=TIMEOUT),
        }
        if api_base:
            options["base_addresses"] = {"api": api_base.rstrip("/")}
        self._client = stripe.StripeClient(secret_key, **options)

    def create_setup_intent(self, metadata: dict[str, str]) -> SetupIntent:
        params: Any = {"payment_method_types": ["card"], "usage": "on_session"}
        params["metadata"] = metadata
        with _translated_errors():
            setup = self._client.v1.setup_intents.create(params=params)
        return SetupIntent(id=setup.id, client_secret=setup.client_secret or "")

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent:
        params: Any = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        with _translated_errors():
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        return payment_intent_from(intent.to_dict())

    def confirm_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> PaymentIntent:
        params: Any = {"expand": ["latest_charge"]}
        with _translated_errors():
            intent = self._client.v1.payment_intents.confirm(
                payment_intent_id, params=params, options={"idempotency_key": idempotency_key}
            )
        return payment_intent_from(intent.to_dict())

    def payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        params: Any = {"expand": ["latest_charge"]}
        with _translated_errors():
            intent = self._client.v1.payment_intents.retrieve(payment_intent_id, params=params)
        return payment_intent_from(intent.to_dict())

    def charge(self, charge_id: str) -> Charge:
        with _translated_errors():
            charge = self._client.v1.charges.retrieve(charge_id)
        return charge_from(charge.to_dict())

    def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        with _translated_errors():
            intent = self._client.v1.payment_intents.cancel(payment_intent_id)
        return payment_intent_from(intent.to_dict())

    def refund(self, payment_intent_id: str, *, amount: int, idempotency_key: str) -> Refund:
        params: Any = {"payment_intent": payment_intent_id, "amount": amount}
        with _translated_errors():
            refund = self._client.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        data = refund.to_dict()
        return Refund(
            id=data["id"],
            payment_intent_id=data.get("payment_intent") or payment_intent_id,
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency") or "").upper(),
            status=str(data.get("status") or ""),
        )


class _translated_errors:
    """Stripe's exceptions as the gateway's own (billing never imports stripe's)."""

    def __enter__(self) -> _translated_errors:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> Literal[False]:
        if error is None or not isinstance(error, stripe.StripeError):
            return False
        if isinstance(error, stripe.CardError):
            raise CardDeclined(_member_message(error), _intent_id_of(error)) from error
        if error.http_status == 404 or error.code == "resource_missing":
            raise GatewayNotFound(_member_message(error)) from error
        raise GatewayError(f"Stripe: {_member_message(error)}") from error


def _member_message(error: stripe.StripeError) -> str:
    return error.user_message or str(getattr(error, "_message", "") or "") or type(error).__name__


def _intent_id_of(error: stripe.StripeError) -> str | None:
    body: Any = error.json_body or {}
    details = body.get("error") if isinstance(body, dict) else None
    intent = details.get("payment_intent") if isinstance(details, dict) else None
    if isinstance(intent, dict):
        return intent.get("id")
    return intent if isinstance(intent, str) else None


def charge_from(data: dict[str, Any]) -> Charge:
    intent = data.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return Charge(
        id=data["id"],
        payment_intent_id=intent,
        amount=int(data.get("amount") or 0),
        amount_refunded=int(data.get("amount_refunded") or 0),
        currency=str(data.get("currency") or "").upper(),
        status=str(data.get("status") or ""),
        created=int(data.get("created") or 0),
    )


def payment_intent_from(data: dict[str, Any]) -> PaymentIntent:
    latest = data.get("latest_charge")
    charge = charge_from(latest) if isinstance(latest, dict) else None
    status = str(data.get("status") or "")
    received = data.get("amount_received")
    if received is None:
        # localstripe leaves amount_received out: the captured charge says the same.
        received = charge.amount if charge and status == "succeeded" else 0
    error = data.get("last_payment_error") or {}
    return PaymentIntent(
        id=data["id"],
        status=status,
        amount=int(data.get("amount") or 0),
        amount_received=int(received),
        currency=str(data.get("currency") or "").upper(),
        client_secret=str(data.get("client_secret") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        latest_charge=charge,
        failure_message=str(error.get("message") or "") if isinstance(error, dict) else "",
    )
