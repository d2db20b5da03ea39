"""Card payments taken in the portal: each attempt a member makes, and the portal's payment
settings. The gateway adapters live in billing/gateways/."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, Money, UTCDateTime, utcnow


class AttemptStatus(enum.StrEnum):
    #: Created at the gateway; the member has not finished (or 3-D Secure is pending).
    STARTED = "started"
    #: The gateway accepted it; waiting for the webhook that confirms the money.
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CardPaymentAttempt(Base):
    """One PaymentIntent for one invoice's amount due at one payment revision."""

    __tablename__ = "card_payment_attempts"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    #: Sent to the gateway as its idempotency key: invoice, payment revision and amount,
    #: so two tabs paying the same balance create one PaymentIntent.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    gateway_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=AttemptStatus.STARTED)
    #: The gateway's reason for a decline, as the member should read it.
    failure_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    invoice = relationship("Invoice")


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
