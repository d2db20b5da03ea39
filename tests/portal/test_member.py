"""What members see: their company's invoices only, with the right amounts."""

import re
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event

from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment
from tests.factories import CustomerFactory, ServiceFactory, make_invoice


@pytest.fixture
def desk(db):
    return ServiceFactory(name="Fixed desk", unit_price=Decimal("24.95"))


def test_home_shows_what_the_company_owes(db, member, member_client, desk):
    customer = member.customer
    first = make_invoice(db, customer, [(desk, "3")])  # 74.85 + 14.97 = 89.82
    second = make_invoice(db, customer, [(desk, "1")])  # 24.95 + 4.99 = 29.94
    record_payment(db, second, amount=Decimal("10.00"), paid_on=date.today(), method="manual")
    make_invoice(db, customer, [(desk, "100")], issue=False)  # a draft: not owed, not shown
    make_invoice(db, CustomerFactory(), [(desk, "7")])  # another company's

    page = member_client.get("/").get_data(as_text=True)
    assert "£109.76" in page  # 89.82 + 19.94
    assert first.number in page and second.number in page
    assert "£19.94" in page and "£10.00" in page  # due and paid of the part-paid invoice
    assert page.count('data-testid="invoice-row"') == 2


def test_awaiting_list_has_the_issue_columns(db, member, member_client, desk):
    invoice = make_invoice(db, member.customer, [(desk, "1")], due_in_days=30)
    invoice.expected_payment_date = date.today() + timedelta(days=20)
    db.flush()
    page = member_client.get("/invoices").get_data(as_text=True)
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", page.split("</thead>")[0])
    assert headers == ["Invoice", "Customer", "Invoice date", "Due date", "Expected", "Paid", "Due"]
    assert member.customer.name in page
    assert invoice.number in page


def test_paid_list(db, member, member_client, desk):
    invoice = make_invoice(db, member.customer, [(desk, "1")])
    record_payment(db, invoice, amount=invoice.total, paid_on=date.today(), method="manual")
    awaiting = member_client.get("/invoices").get_data(as_text=True)
    paid = member_client.get("/invoices/paid").get_data(as_text=True)
    assert invoice.number not in awaiting
    assert invoice.number in paid
    assert "all paid up" in member_client.get("/").get_data(as_text=True)


def test_invoice_page_shows_lines_tax_and_totals(db, member, member_client, desk):
    invoice = make_invoice(db, member.customer, [(desk, "3")])
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Fixed desk" in page
    assert "£74.85" in page and "£14.97" in page and "£89.82" in page
    assert re.search(r'data-testid="amount-due">£89.82<', page)


def test_voided_invoice_is_visible_but_not_owed(db, member, member_client, desk):
    invoice = make_invoice(db, member.customer, [(desk, "1")])
    void_invoice(db, invoice)
    assert member_client.get(f"/invoices/{invoice.id}").status_code == 200
    assert invoice.number not in member_client.get("/invoices").get_data(as_text=True)


@pytest.mark.parametrize("kind", ["other_company", "draft", "deleted_or_unknown"])
def test_member_cannot_see_what_is_not_theirs(db, member, member_client, desk, kind):
    if kind == "other_company":
        invoice_id = make_invoice(db, CustomerFactory(), [(desk, "1")]).id
    elif kind == "draft":
        invoice_id = make_invoice(db, member.customer, [(desk, "1")], issue=False).id
    else:
        invoice_id = 987654
    assert member_client.get(f"/invoices/{invoice_id}").status_code == 404


def test_amounts_are_formatted_for_the_invoice_currency(db, member, member_client):
    euro = ServiceFactory(currency="EUR", unit_price=Decimal("1000"))
    make_invoice(db, member.customer, [(euro, "1")], currency="EUR")
    page = member_client.get("/").get_data(as_text=True)
    assert "€1,200.00" in page


@contextmanager
def count_queries(engine):
    statements = []

    def record(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_lists_cost_the_same_queries_for_many_invoices(
    db, engine, app, member, member_client, desk
):
    make_invoice(db, member.customer, [(desk, "1")])
    with count_queries(engine) as few:
        assert member_client.get("/invoices").status_code == 200
    for _ in range(30):
        make_invoice(db, member.customer, [(desk, "1")])
    with count_queries(engine) as many:
        page = member_client.get("/invoices").get_data(as_text=True)
    assert page.count('data-testid="invoice-row"') == app.config["PAGE_SIZE"]
    assert len(many) == len(few), many


def test_pages_paginate(db, member, member_client, desk, app):
    for _ in range(app.config["PAGE_SIZE"] + 3):
        make_invoice(db, member.customer, [(desk, "1")])
    second = member_client.get("/invoices?page=2").get_data(as_text=True)
    assert second.count('data-testid="invoice-row"') == 3
    assert "Page 2 of 2" in second
    assert member_client.get("/invoices?page=abc").status_code == 404
