"""Money a card took for an invoice voided meanwhile: held, and both pages say so plainly."""

import re
from datetime import date
from decimal import Decimal

from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment
from tests.conftest import login
from tests.factories import AdminFactory, ServiceFactory, make_invoice
from tests.portal.pages import text


def test_member_and_admin_are_told_the_payment_came_after_the_void(db, client, member):
    invoice = make_invoice(db, member.customer, [(ServiceFactory(unit_price=Decimal("120")), "1")])
    void_invoice(db, invoice)
    record_payment(
        db,
        invoice,
        amount=Decimal("144.00"),
        paid_on=date(2026, 11, 2),
        method="card",
        reference="ch_after_void",
        gateway_payment_id="pi_after_void",
        gateway_charge_id="ch_after_void",
        hold_overpayment=True,
    )
    db.commit()

    login(client, member.email)
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert (
        "This invoice was voided after you paid it; your payment of £144.00 will be refunded"
        in page
    )
    assert "paid this invoice twice" not in page
    client.post_form("/logout")

    login(client, AdminFactory().email)
    listing = " ".join(re.sub(r"<[^>]+>", " ", text(client.get("/admin/needs-attention"))).split())
    assert "Paid after it was voided: £144.00 taken for an invoice nobody owes" in listing
    assert "Paid twice" not in listing
