"""Wiring Stripe into the portal: the keys (the admin's payment settings, else configuration,
STRIPE_*), the gateway built from them (STRIPE_API_BASE points it at a stand-in such as
localstripe), and the inbox handler for Stripe's events (``billing.cards.stripe_events``), which
the worker runs without a request and so keeps the app to read keys and settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from sqlalchemy.orm import Session

from billing.cards import payment_settings as card_settings
from billing.cards import stripe_events
from billing.cards.payment_settings import StripeKeys

if TYPE_CHECKING:
    from billing.cards.gateways.stripe_gateway import StripeGateway


def init_app(app: Flask) -> None:
    stripe_events.register(app.extensions["inbox_handlers"], lambda db: stripe_gateway(db, app))


def stripe_keys(db: Session, app: Flask | None = None) -> StripeKeys:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    fallback = StripeKeys(
        publishable_key=config.get("STRIPE_PUBLISHABLE_KEY") or "",
        secret_key=config.get("STRIPE_SECRET_KEY") or "",
        webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or "",
    )
    settings = card_settings.payment_settings(db)
    return card_settings.stripe_keys(settings, app.extensions["secret_box"], fallback)


def stripe_gateway(db: Session, app: Flask | None = None) -> StripeGateway:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    keys = stripe_keys(db, app)
    # Imported here: the stripe library (and its aiohttp) costs every process a second at
    # start-up, and most requests never reach Stripe.
    from billing.cards.gateways.stripe_gateway import StripeGateway

    return StripeGateway(keys.secret_key, api_base=app.config.get("STRIPE_API_BASE") or "")
