from datetime import date

from flask import abort, render_template

from billing import statements
from billing.invoices.model import Payment
from billing.invoices.operations import get_invoice
from billing.statements import MEMBER_VISIBLE
from portal.access import current_customer_id
from portal.db import get_db
from portal.member import bp
from portal.views import found, paginated


@bp.get("/")
def home():
    customer_id = current_customer_id()
    return render_template(
        "member/home.html",
        balance=statements.balance(get_db(), customer_id),
        page=paginated(get_db(), statements.awaiting_payment(customer_id)),
        today=date.today(),
    )


@bp.get("/invoices")
def awaiting():
    customer_id = current_customer_id()
    return render_template(
        "member/invoices.html",
        title="Awaiting payment",
        page=paginated(get_db(), statements.awaiting_payment(customer_id)),
        today=date.today(),
    )


@bp.get("/invoices/paid")
def paid():
    return render_template(
        "member/invoices.html",
        title="Paid",
        page=paginated(get_db(), statements.paid(current_customer_id())),
        today=date.today(),
    )


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    invoice = found(get_invoice, invoice_id)
    # Another company's invoice, or a draft, does not exist as far as a member can tell.
    if invoice.customer_id != current_customer_id() or invoice.state not in MEMBER_VISIBLE:
        abort(404)
    return render_template("member/invoice.html", invoice=invoice, today=date.today())


@bp.get("/payments")
def payments():
    return render_template(
        "member/payments.html",
        page=paginated(get_db(), statements.payment_history(current_customer_id())),
    )


@bp.get("/payments/<int:payment_id>")
def receipt(payment_id: int):
    payment = get_db().get(Payment, payment_id)
    # Another company's payment does not exist as far as a member can tell.
    if payment is None or payment.invoice.customer_id != current_customer_id():
        abort(404)
    return render_template("member/receipt.html", payment=payment)
