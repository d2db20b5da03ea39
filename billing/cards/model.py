"""Card payments taken in the portal: each attempt a member makes, and the portal's payment
settings. The gateway adapters live in billing/gateways/."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, Money, UTCDateTime, utcnow


class AttemptStatus(enum.StrEnum):
    #: Claimed, possibly created at the gateway, not confirmed yet.
    STARTED = "started"
    #: The card's bank asked for 3-D Secure; the member has not finished it.
    NEEDS_ACTION = "needs_action"
    #: The gateway accepted it; waiting for the webhook that confirms the money.
    PROCESSING = "processing"
    #: The gateway did not answer the confirmation (time-out, dropped connection): money
    #: may have been taken. Looked up at the gateway before any new charge of the invoice.
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    #: Declined by the card or its bank (3-D Secure failed too): counts against the limits.
    FAILED = "failed"
    #: Ended without a decline and without money: cancelled at the gateway for another
    #: amount, or never sent. Does not count against the limits.
    CANCELED = "canceled"


#: An invoice has at most one of these at a time (``card_checkout.claim_attempt``).
LIVE_STATUSES = (
    AttemptStatus.STARTED,
    AttemptStatus.NEEDS_ACTION,
    AttemptStatus.PROCESSING,
    AttemptStatus.UNKNOWN,
)


class CardPaymentAttempt(Base):
    """One PaymentIntent for one invoice's amount due at one payment revision."""

    __tablename__ = "card_payment_attempts"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    #: Sent to the gateway as its idempotency key: invoice, payment revision, amount and
    #: the attempt's number on the invoice (unique; one PaymentIntent per attempt).
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    gateway_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=AttemptStatus.STARTED)
    #: The gateway's reason for a decline, as the member should read it.
    failure_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    invoice = relationship("Invoice")


class CardSetupRequest(Base):
    """A SetupIntent a member asked for (the card form's first step), counted in the database
    so every worker process sees the same count: each one is a free card check at Stripe,
    which card testers would otherwise use without limit."""

    __tablename__ = "card_setup_requests"
    __table_args__ = (Index("ix_card_setup_requests_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PaymentSettings(Base):
    """How members may pay (one row). Secrets are encrypted with the portal's secret box."""

    __tablename__ = "payment_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_card: Mapped[bool] = mapped_column(default=True)
    offer_xero_online: Mapped[bool] = mapped_column(default=True)
    #: Show "Pay online via Xero" only once the invoice's online link is stored.
    xero_only_with_link: Mapped[bool] = mapped_column(default=True)
    stripe_publishable_key: Mapped[str] = mapped_column(String(255), default="")
    stripe_secret_key_encrypted: Mapped[str] = mapped_column(Text, default="")
    stripe_webhook_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
