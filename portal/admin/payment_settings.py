"""Settings > Payments: how members may pay (card in the portal, Xero's online invoice) and
the Stripe keys.

Secret keys are encrypted with the portal's secret box before they are stored, and never
shown back (the page shows their last four characters); a blank secret field keeps the key
saved. Keys saved here win over STRIPE_* configuration, which fills any left empty.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import Length, Optional, Regexp

from billing.cards import payment_settings as card_settings
from billing.cards.payment_settings import SettingsChange
from portal.admin import bp
from portal.db import get_db
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)
from portal.stripe_setup import stripe_keys
from portal.views import form_status

PUBLISHABLE = Regexp(r"^pk_(test|live)_\w+$", message="A publishable key starts with pk_.")
SECRET = Regexp(r"^(sk|rk)_(test|live)_\w+$", message="A secret key starts with sk_ (or rk_).")
WEBHOOK = Regexp(r"^whsec_\w+$", message="A webhook signing secret starts with whsec_.")


class PaymentSettingsForm(FlaskForm):
    offer_card = BooleanField("Card payments in the portal (Stripe)")
    offer_xero_online = BooleanField("Xero's online invoice (Pay now through Xero)")
    xero_only_with_link = BooleanField(
        "Show the Xero option only when the invoice's online link exists"
    )
    stripe_publishable_key = StringField(
        "Publishable key", validators=[Optional(), Length(max=255), PUBLISHABLE]
    )
    stripe_secret_key = PasswordField(
        "Secret key", validators=[Optional(), Length(max=255), SECRET]
    )
    clear_secret_key = BooleanField("Remove the saved secret key")
    stripe_webhook_secret = PasswordField(
        "Webhook signing secret", validators=[Optional(), Length(max=255), WEBHOOK]
    )
    clear_webhook_secret = BooleanField("Remove the saved webhook signing secret")


def _secret_change(value: str | None, clear: bool) -> str | None:
    if clear:
        return ""
    return value.strip() if value and value.strip() else None


@bp.route("/settings/payments", methods=["GET", "POST"])
def payment_settings():
    db = get_db()
    settings = card_settings.payment_settings(db)
    form = PaymentSettingsForm()
    if not form.is_submitted():
        form.offer_card.data = settings.offer_card
        form.offer_xero_online.data = settings.offer_xero_online
        form.xero_only_with_link.data = settings.xero_only_with_link
        form.stripe_publishable_key.data = settings.stripe_publishable_key
    if form.validate_on_submit():
        card_settings.save_payment_settings(
            db,
            current_app.extensions["secret_box"],
            SettingsChange(
                offer_card=bool(form.offer_card.data),
                offer_xero_online=bool(form.offer_xero_online.data),
                xero_only_with_link=bool(form.xero_only_with_link.data),
                publishable_key=form.stripe_publishable_key.data or "",
                secret_key=_secret_change(form.stripe_secret_key.data, form.clear_secret_key.data),
                webhook_secret=_secret_change(
                    form.stripe_webhook_secret.data, form.clear_webhook_secret.data
                ),
            ),
        )
        flash("Payment settings saved.", "success")
        return redirect(url_for("admin.payment_settings"))
    keys = stripe_keys(db)
    config = current_app.config
    return render_template(
        "admin/payment_settings.html",
        form=form,
        settings=settings,
        secret_hint=_hint(
            bool(settings.stripe_secret_key_encrypted), keys.secret_key, config["STRIPE_SECRET_KEY"]
        ),
        webhook_hint=_hint(
            bool(settings.stripe_webhook_secret_encrypted),
            keys.webhook_secret,
            config["STRIPE_WEBHOOK_SECRET"],
        ),
        publishable_from_config=not settings.stripe_publishable_key
        and bool(config["STRIPE_PUBLISHABLE_KEY"]),
        card_ready=keys.can_charge,
        webhook_url=url_for("webhooks.stripe_webhook", _external=True),
        test_mode=config["STRIPE_API_BASE"] != "",
    ), form_status(form)


def _hint(saved: bool, current: str, configured: str) -> str:
    """Where a secret comes from, with only its last characters."""
    if saved:
        return f"Saved here, ending {card_settings.masked(current)}. Leave blank to keep it."
    if configured:
        return f"From the environment, ending {card_settings.masked(configured)}."
    return "Not set."
