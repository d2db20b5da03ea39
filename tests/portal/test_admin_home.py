"""The admin overview: drafts, awaiting payment and overdue, counted and summed per currency."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

from billing.invoices.model import InvoiceStatus
from billing.invoices.operations import delete_draft, void_invoice
from billing.payments.operations import record_payment
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory, make_invoice


def cards(response) -> dict[str, tuple[str, str]]:
    """{"drafts-GBP": ("2", "£35.94"), ...} from the overview page."""
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    return {
        key: (number, amount.replace(" due", ""))
        for key, number, amount in re.findall(
            r'data-testid="([a-z]+-[A-Z]{3})">(\d+)</div><div>(.*?)</div>', page
        )
    }


def test_empty_overview(admin_client):
    response = admin_client.get("/admin/")
    assert cards(response) == {}
    assert "No drafts and nothing awaiting payment." in response.get_data(as_text=True)


def test_counts_and_totals_per_currency(db, admin_client):
    today = date.today()
    long_ago = today - timedelta(days=60)
    vat = TaxRateFactory(rate_percent=Decimal("20"))
    gbp = ServiceFactory(unit_price=Decimal("10.00"), currency="GBP", tax_rate=vat)  # 12.00
    eur = ServiceFactory(unit_price=Decimal("24.95"), currency="EUR", tax_rate=vat)  # 29.94
    acme, beta = CustomerFactory(), CustomerFactory()

    # GBP: two drafts (12.00 + 36.00), one of another customer; a deleted draft is not counted.
    make_invoice(db, acme, lines=[(gbp, "1")], issue=False)
    make_invoice(db, beta, lines=[(gbp, "3")], issue=False)
    delete_draft(db, make_invoice(db, acme, lines=[(gbp, "100")], issue=False))
    # GBP awaiting payment: not yet due (24.00), overdue (60.00 with 15.00 paid -> 45.00),
    # overdue (12.00), due today is not overdue (12.00).
    make_invoice(db, acme, lines=[(gbp, "2")], due_in_days=30)
    part = make_invoice(db, beta, lines=[(gbp, "5")], issue_date=long_ago, due_in_days=14)
    record_payment(db, part, amount=Decimal("15.00"), paid_on=today, method="manual")
    make_invoice(db, acme, lines=[(gbp, "1")], issue_date=long_ago, due_in_days=59)
    make_invoice(db, acme, lines=[(gbp, "1")], issue_date=long_ago, due_in_days=60)
    # Paid and voided invoices, even long overdue ones, are not counted.
    paid = make_invoice(db, acme, lines=[(gbp, "7")], issue_date=long_ago, due_in_days=1)
    record_payment(db, paid, amount=paid.total, paid_on=today, method="manual")
    assert paid.state is InvoiceStatus.PAID
    void_invoice(db, make_invoice(db, acme, lines=[(gbp, "9")], issue_date=long_ago, due_in_days=1))
    # EUR: no drafts, one overdue invoice of 3 x 24.95 + 20% = 89.82.
    make_invoice(db, beta, lines=[(eur, "3")], currency="EUR", issue_date=long_ago, due_in_days=0)

    shown = cards(admin_client.get("/admin/"))
    assert shown == {
        "drafts-GBP": ("2", "£48.00"),
        "awaiting-GBP": ("4", "£93.00"),
        "overdue-GBP": ("2", "£57.00"),
        "drafts-EUR": ("0", "€0.00"),
        "awaiting-EUR": ("1", "€89.82"),
        "overdue-EUR": ("1", "€89.82"),
    }
