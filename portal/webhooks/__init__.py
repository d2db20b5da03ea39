"""Webhook endpoints (Stripe, Xero). No CSRF (the senders are servers, not browsers): each
endpoint verifies its provider's signature over the raw body instead, stores the event once
in the inbox (billing.inbox) and answers at once; a job does the work."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from portal.webhooks import stripe, xero  # noqa: E402,F401
