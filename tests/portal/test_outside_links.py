"""A stored online-invoice link is checked again before a member's page renders it: a link
stored before the sync checked links (or by anything else) never becomes an href."""

from __future__ import annotations

import pytest

from billing.cards import payment_settings as card_settings
from tests.factories import make_invoice
from xero.models import XeroInvoiceLink

HOSTILE = [
    "javascript:alert(document.cookie)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://in.xero.com/plain-http",
]


@pytest.fixture
def xero_only(db):
    row = card_settings.payment_settings(db)
    row.offer_card = False
    row.offer_xero_online = True
    row.xero_only_with_link = False  # a missing link would then be "on its way"
    db.add(row)
    db.flush()


def pages(member_client, invoice) -> list[str]:
    return [
        member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True),
        member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True),
    ]


def test_an_https_link_is_offered(db, member, member_client, xero_only):
    invoice = make_invoice(db, member.customer)
    db.add(XeroInvoiceLink(invoice_id=invoice.id, online_invoice_url="https://in.xero.com/ok"))
    db.flush()
    for page in pages(member_client, invoice):
        assert 'href="https://in.xero.com/ok"' in page


@pytest.mark.parametrize("url", HOSTILE)
def test_another_link_is_not_rendered(db, member, member_client, xero_only, url):
    invoice = make_invoice(db, member.customer)
    db.add(XeroInvoiceLink(invoice_id=invoice.id, online_invoice_url=url))
    db.flush()
    for page in pages(member_client, invoice):
        assert "javascript:" not in page and "data:text" not in page
        assert "plain-http" not in page
        assert "Pay online via Xero" not in page and "Open the online invoice" not in page
        assert "on its way" not in page
