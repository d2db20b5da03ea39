"""Paying an invoice: the pay page, card payments through Stripe, and "check now".

The card flow: the page asks for a SetupIntent (``/pay/setup``), Stripe.js confirms the
card with it, and the page posts the PaymentMethod (``/pay/card``); the server claims the
attempt under its idempotency key, commits, then creates and confirms the PaymentIntent.
3-D Secure is finished by Stripe.js on the page. The payment itself is recorded only from
Stripe (the webhook's job, or "check now" re-reading the intent), never from the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from billing.cards import checkout as card_checkout
from billing.cards import limits as card_limits
from billing.cards import payment_settings as card_settings
from billing.cards import stripe_events
from billing.cards.checkout import PaymentOptions
from billing.cards.gateways import GatewayError
from billing.cards.model import LIVE_STATUSES, AttemptStatus, CardPaymentAttempt
from billing.db import outside_transaction
from billing.errors import BillingError
from billing.invoices.model import Invoice, InvoiceStatus
from billing.invoices.operations import get_invoice
from billing.money import parse_decimal
from billing.statements import MEMBER_VISIBLE
from portal.access import current_customer_id
from portal.db import get_db, rollback_request, writes_on_get
from portal.formatting import outside_link
from portal.member import bp
from portal.stripe_setup import stripe_gateway, stripe_keys
from portal.views import found
from xero.models import XeroInvoiceLink
from xero.sync import online_links

PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,200}")


def _own_invoice(invoice_id: int) -> Invoice:
    invoice = found(get_invoice, invoice_id)
    # Another company's invoice, or a draft, does not exist as far as a member can tell.
    if invoice.customer_id != current_customer_id() or invoice.state not in MEMBER_VISIBLE:
        abort(404)
    return invoice


def _options(invoice: Invoice) -> PaymentOptions:
    db = get_db()
    link = db.get(XeroInvoiceLink, invoice.id)
    stored = link.online_invoice_url if link is not None else ""
    # Checked again here, not only when stored: a bad link is no option at all, and not
    # one "on its way" either.
    safe = outside_link(stored)
    options = card_checkout.payment_options(
        card_settings.payment_settings(db),
        stripe_keys(db),
        invoice,
        safe,
        fetchable=not stored and link is not None and bool(link.xero_invoice_id),
    )
    return replace(options, xero_pending=False) if stored and not safe else options


@dataclass(frozen=True)
class PaymentPanel:
    options: PaymentOptions
    card: card_checkout.CardStatus

    @property
    def live(self) -> CardPaymentAttempt | None:
        return self.card.live

    @property
    def processing(self) -> bool:
        """A payment Stripe accepted, or may have (unknown): no new one is offered."""
        live = self.card.live
        return live is not None and live.status in (
            AttemptStatus.PROCESSING,
            AttemptStatus.UNKNOWN,
        )

    @property
    def attempt(self) -> CardPaymentAttempt | None:
        return self.card.live or self.card.declined


@bp.app_template_global()
def member_payment_panel(invoice: Invoice) -> PaymentPanel:
    """For the member's invoice page: how it can be paid, and a card payment under way."""
    db = get_db()
    return PaymentPanel(_options(invoice), card_checkout.card_status(db, invoice, current_user.id))


@bp.get("/invoices/<int:invoice_id>/pay")
def pay(invoice_id: int):
    invoice = _own_invoice(invoice_id)
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT or invoice.amount_due <= 0:
        flash(f"Invoice {invoice.number} has nothing left to pay.", "info")
        return redirect(url_for("member.invoice", invoice_id=invoice.id))
    panel = member_payment_panel(invoice)
    return render_template(
        "member/pay.html",
        invoice=invoice,
        panel=panel,
        options=panel.options,
        # The card form, unless a payment is under way or no more tries are left.
        card_form=panel.options.card and not panel.processing and panel.card.tries.left > 0,
        publishable_key=stripe_keys(get_db()).publishable_key if panel.options.card else "",
        stripe_js_url=current_app.config["STRIPE_JS_URL"],
        today=date.today(),
    )


@bp.get("/invoices/<int:invoice_id>/pay/xero")
@writes_on_get  # claims the link's job and stores the link Xero gives
def pay_xero(invoice_id: int):
    """To Xero's online invoice; its link, when not stored yet, is fetched now, from the calls
    a minute kept for members (``xero.sync.online_links``). A GET, being a link to follow
    (a form posted here could not be redirected to Xero under the page's form-action)."""
    invoice = _own_invoice(invoice_id)
    back = redirect(url_for("member.invoice", invoice_id=invoice.id))
    options = _options(invoice)
    if options.xero_url:
        return redirect(options.xero_url)
    if not options.xero_on_demand:
        if options.xero_pending:
            flash("The online payment link for this invoice is on its way.", "info")
        else:
            flash(f"Invoice {invoice.number} cannot be paid online via Xero.", "info")
        return back
    db = get_db()
    url = outside_link(
        online_links.fetch_for_member(current_app.extensions["xero"], db, invoice.id)
    )
    if url:
        return redirect(url)
    flash(
        "The online payment link for this invoice is on its way. Please try again in a minute.",
        "info",
    )
    return back


def _card_invoice(invoice_id: int) -> Invoice:
    invoice = _own_invoice(invoice_id)
    if not _options(invoice).card and invoice.state is InvoiceStatus.AWAITING_PAYMENT:
        abort(_error("Card payments are not offered.", 409))
    return invoice


def _amount() -> Decimal:
    try:
        return parse_decimal(request.form.get("amount", ""), places=2, field="Amount to pay")
    except BillingError as error:
        abort(_error(str(error), 422))


def _error(message: str, status: int):
    """A refusal in JSON: nothing the request did is kept (what must stand, such as a
    counted attempt, was committed before Stripe was called)."""
    rollback_request()
    response = jsonify(status="error", message=message)
    response.status_code = status
    return response


@bp.post("/invoices/<int:invoice_id>/pay/setup")
def pay_setup(invoice_id: int):
    """A SetupIntent for the card form. The amount and the member's limits are checked first:
    nothing is created at Stripe for an amount that could not be charged."""
    invoice = _card_invoice(invoice_id)
    amount = _amount()
    db = get_db()
    try:
        gateway = stripe_gateway(db)
        card_checkout.allow_card_setup(db, invoice, amount, current_user.id)
        outside_transaction(db)  # counted, and no transaction stays open while Stripe answers
        setup = card_checkout.begin_card_setup(gateway, invoice, amount)
    except GatewayError as error:
        current_app.logger.warning("Stripe SetupIntent for invoice %s: %s", invoice.id, error)
        return _error("Card payments are unavailable just now. Please try again shortly.", 502)
    except card_limits.TooManyAttempts as error:
        return _error(str(error), 429)
    except BillingError as error:
        return _error(str(error), 409)
    return jsonify(status="ok", client_secret=setup.client_secret)


#: Rounds of "settle the live attempt, then claim again" before the member is told to wait:
#: two tabs with different amounts would otherwise cancel each other's for ever.
SETTLE_ROUNDS = 2


@bp.post("/invoices/<int:invoice_id>/pay/card")
def pay_card(invoice_id: int):
    invoice = _card_invoice(invoice_id)
    amount = _amount()
    payment_method = request.form.get("payment_method", "").strip()
    if not PAYMENT_METHOD_ID.fullmatch(payment_method):
        return _error("The card details did not reach us. Please try again.", 400)
    db = get_db()
    try:
        gateway = stripe_gateway(db)
        for _ in range(SETTLE_ROUNDS + 1):
            claim = card_checkout.claim_attempt(db, invoice, amount, current_user.id)
            # The claim is on record before Stripe is called: a second tab finds it.
            outside_transaction(db)
            if not claim.blocked:
                break
            card_checkout.settle_attempt(db, gateway, claim.attempt, amount)
            outside_transaction(db)
        else:
            raise card_checkout.PaymentInProgress(
                "A card payment for this invoice is already in progress. Please wait a moment."
            )
        if claim.created:
            outcome = card_checkout.charge_attempt(
                db, gateway, claim.attempt, invoice, payment_method
            )
        else:
            outcome = card_checkout.resume_attempt(db, gateway, claim.attempt)
    except GatewayError as error:
        current_app.logger.warning("Stripe for invoice %s: %s", invoice.id, error)
        return _error("Card payments are unavailable just now. Please try again shortly.", 502)
    except card_limits.TooManyAttempts as error:
        return _error(str(error), 429)
    except BillingError as error:
        return _error(str(error), 409)
    message = outcome.message
    tries = None
    if outcome.status == "failed":
        tries = card_limits.tries_left(db, invoice.id, current_user.id).left
        message = f"{message} {_tries_text(tries)}".strip()
    # A declined card is an answer too (status "failed"): 200, so the attempt is kept.
    return jsonify(
        status=outcome.status,
        message=message,
        client_secret=outcome.client_secret,
        tries_left=tries,
        redirect=url_for("member.invoice", invoice_id=invoice.id),
    )


@bp.app_template_global()
def card_tries_text(tries: int) -> str:
    return _tries_text(tries)


def _tries_text(tries: int) -> str:
    if tries <= 0:
        return "No more card payments can be tried for now."
    return f"You can try {tries} more time{'s' if tries != 1 else ''}."


@bp.post("/invoices/<int:invoice_id>/pay/check")
def pay_check(invoice_id: int):
    """Ask Stripe now instead of waiting for its webhook (the same handler applies it)."""
    invoice = _own_invoice(invoice_id)
    db = get_db()
    attempt = db.scalar(
        select(CardPaymentAttempt)
        .where(
            CardPaymentAttempt.invoice_id == invoice.id,
            CardPaymentAttempt.gateway_payment_id.is_not(None),
            CardPaymentAttempt.status.in_(LIVE_STATUSES),
        )
        .order_by(CardPaymentAttempt.id.desc())
        .limit(1)
    )
    back = redirect(url_for("member.invoice", invoice_id=invoice.id))
    if attempt is None:
        flash("There is no card payment waiting for confirmation.", "info")
        return back
    try:
        payment = stripe_events.refresh_attempt(db, stripe_gateway(db), attempt)
    except GatewayError:
        flash("Stripe could not be reached. Please try again in a moment.", "error")
        return back
    except stripe_events.UnrecordablePayment as error:
        current_app.logger.error("%s", error)
        flash("Your payment was received and is being checked by our team.", "info")
        return back
    if payment is not None:
        flash("Thank you: your card payment was received.", "success")
    elif attempt.status in (AttemptStatus.FAILED, AttemptStatus.CANCELED):
        flash(f"The card payment did not go through: {attempt.failure_message}", "error")
    elif attempt.status == AttemptStatus.NEEDS_ACTION:
        flash("Your card payment is waiting for your bank's check (3-D Secure).", "info")
    else:
        flash("Your card payment is still being processed.", "info")
    return back
