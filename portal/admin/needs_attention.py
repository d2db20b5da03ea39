"""Needs attention: invoices paid twice (billing.payments.overpayments), with the admin's two
decisions, each behind a confirmation page: refund the card payment in Stripe, or keep the
extra as the customer's credit (recorded in Xero by the outbox)."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from billing.cards.gateways import GatewayError
from billing.errors import BillingError, NotFound
from billing.money import format_money
from billing.payments.overpayment_refund import refund_overpayment
from billing.payments.overpayments import (
    Overpayment,
    OverpaymentStatus,
    decide_credit,
    get_overpayment,
    needing_attention,
    unsettled_count,
)
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db
from portal.stripe_setup import stripe_gateway


@bp.app_template_global()
def overpayments_needing_attention() -> int:
    """For the admin nav and home: how many overpayments wait for a decision or its outcome."""
    return unsettled_count(get_db())


@bp.get("/needs-attention")
def needs_attention():
    unsettled, settled = needing_attention(get_db())
    return render_template("admin/needs_attention.html", unsettled=unsettled, settled=settled)


def money(amount, currency: str) -> str:
    return format_money(amount, currency, current_app.config["PORTAL_LOCALE"])


def _overpayment(overpayment_id: int) -> Overpayment:
    try:
        return get_overpayment(get_db(), overpayment_id)
    except NotFound:
        abort(404)


def _confirm(overpayment: Overpayment, title: str, message: str):
    return render_template(
        "admin/confirm.html",
        form=ConfirmForm(),
        title=title,
        message=message,
        action=request.path,
        button=title.rstrip("?"),
        back=url_for("admin.needs_attention"),
    )


@bp.route("/needs-attention/<int:overpayment_id>/refund", methods=["GET", "POST"])
def refund_overpaid(overpayment_id: int):
    overpayment = _overpayment(overpayment_id)
    back = redirect(url_for("admin.needs_attention"))
    card = overpayment.card_payment() if overpayment.refund_payment is None else None
    card = overpayment.refund_payment or card
    if card is None:
        flash("Neither payment was taken by card in the portal: refund it where it was paid.")
        return back
    amount = money(card.money_kept, card.currency)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _confirm(
            overpayment,
            f"Refund {amount} to the card?",
            f"Stripe gives {amount} back to the card of charge {card.gateway_charge_id or ''} "
            f"for invoice {overpayment.invoice.display_number}. The other payment then pays "
            "the invoice, in the portal and in Xero. A refund cannot be undone.",
        )
    db = get_db()
    try:
        done = refund_overpayment(db, stripe_gateway(db), overpayment_id, current_user.id)
    except GatewayError as error:
        current_app.logger.warning("refund of overpayment %s: %s", overpayment_id, error)
        flash(f"Stripe did not refund it: {error}. Try again in a moment.", "error")
        return back
    except BillingError as error:
        flash(str(error), "error")
        return back
    if done.state is OverpaymentStatus.REFUNDED:
        flash(f"{amount} was refunded to the card.", "success")
    else:
        flash(f"Stripe is refunding {amount}; this page shows when it is done.", "info")
    return back


@bp.route("/needs-attention/<int:overpayment_id>/credit", methods=["GET", "POST"])
def keep_overpaid_as_credit(overpayment_id: int):
    overpayment = _overpayment(overpayment_id)
    amount = money(overpayment.payment.money_kept, overpayment.currency)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _confirm(
            overpayment,
            f"Keep {amount} as credit?",
            f"{overpayment.invoice.customer.name} keeps {amount} as credit for later "
            "invoices, recorded in Xero as an overpayment on their contact. Nothing is "
            "refunded to the card.",
        )
    try:
        decide_credit(get_db(), overpayment_id, current_user.id)
    except BillingError as error:
        flash(str(error), "error")
        return redirect(url_for("admin.needs_attention"))
    flash(f"{amount} is kept as {overpayment.invoice.customer.name}'s credit.", "success")
    return redirect(url_for("admin.needs_attention"))
