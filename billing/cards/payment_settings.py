"""The portal's payment settings: which ways to pay members are offered, and the Stripe
keys (encrypted at rest; shown masked)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.cards.model import (
    PaymentSettings,
)
from billing.encryption import SecretBox

log = logging.getLogger(__name__)


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
