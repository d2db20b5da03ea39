"""Payment history and receipts for members; money received per month for admins."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.payments.operations import record_payment, record_refund, reverse_payment
from billing.statements import money_received
from tests.factories import CustomerFactory, ServiceFactory, make_invoice


@pytest.fixture
def desk(db):
    return ServiceFactory(name="Desk", unit_price=Decimal("100.00"))  # 120.00 with tax


def pay(db, invoice, amount, on, **kwargs):
    payment = record_payment(
        db, invoice, amount=Decimal(amount), paid_on=on, method="card", **kwargs
    )
    db.commit()
    return payment


def test_member_sees_own_payments_and_receipts(db, member, member_client, desk):
    invoice = make_invoice(db, member.customer, [(desk, "1")])
    payment = pay(db, invoice, "120.00", date.today(), reference="ch_123")
    other = pay(db, make_invoice(db, CustomerFactory(), [(desk, "1")]), "5.00", date.today())

    history = member_client.get("/payments").get_data(as_text=True)
    assert history.count('data-testid="payment-row"') == 1
    assert "ch_123" in history and invoice.number in history

    receipt = member_client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert re.search(r'data-testid="receipt-amount"><strong>£120.00<', receipt)
    assert "ch_123" in receipt and "Card (in the portal)" in receipt
    assert member_client.get(f"/payments/{other.id}").status_code == 404
    assert member_client.get("/payments/999999").status_code == 404


def test_money_received_by_month_is_net_and_has_empty_months(db, desk):
    today = date(2026, 11, 26)
    customer = CustomerFactory()
    october = make_invoice(db, customer, [(desk, "1")], issue_date=date(2026, 10, 1))
    pay(db, october, "100.00", date(2026, 10, 5))
    refunded = pay(
        db,
        make_invoice(db, customer, [(desk, "1")]),
        "120.00",
        date(2026, 11, 2),
        gateway_payment_id="pi_x",
    )
    record_refund(db, refunded, Decimal("20.00"))
    reversed_ = pay(db, make_invoice(db, customer, [(desk, "1")]), "50.00", date(2026, 11, 3))
    reverse_payment(db, reversed_)
    old = make_invoice(db, customer, [(desk, "1")], issue_date=date(2025, 1, 1))
    pay(db, old, "7.00", date(2025, 1, 2))  # outside the 12 months
    # Days of one month add up (the sums are per day in SQL, per month in Python).
    pay(db, make_invoice(db, customer, [(desk, "1")]), "30.00", date(2026, 11, 20))
    pay(db, make_invoice(db, customer, [(desk, "1")]), "0.01", date(2026, 11, 26))
    pay(db, make_invoice(db, customer, [(desk, "1")]), "1.00", date(2026, 11, 27))  # tomorrow

    [(currency, months)] = money_received(db, today).items()
    assert currency == "GBP"
    assert len(months) == 12
    assert (months[0].year, months[0].month) == (2025, 12)
    assert (months[-1].year, months[-1].month) == (2026, 11)
    # 120 - 20 refunded, + 30 + 0.01; the reversed 50 is out, and so is tomorrow's 1.00.
    assert months[-1].amount == Decimal("130.01")
    assert months[-2].amount == Decimal("100.00")
    assert sum(m.amount for m in months[:-2]) == 0


def test_report_page_draws_a_bar_per_month(db, admin_client, desk):
    invoice = make_invoice(db, CustomerFactory(), [(desk, "1")])
    pay(
        db,
        invoice,
        "60.00",
        date.today() - timedelta(days=1) if date.today().day > 1 else date.today(),
    )
    page = admin_client.get("/admin/reports/money-received").get_data(as_text=True)
    assert 'data-testid="chart-GBP"' in page
    assert page.count("<rect ") == 12
    assert "£60.00" in page
