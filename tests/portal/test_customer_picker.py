"""The customer picker on the invoice form: its search endpoint (``/admin/customers/search``)
and how the form's POST resolves the one customer it names, with and without the script."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.customers import SEARCH_LIMIT
from billing.invoices.model import Invoice, InvoiceLine
from tests.conftest import login
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory, make_invoice
from tests.portal.pages import count, field_errors, text
from tests.portal.test_member import count_queries

SEARCH = "/admin/customers/search"
NEW = "/admin/invoices/new"
UNKNOWN = "That customer does not exist (any more): type part of a name and pick again."


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return [c["name"] for c in response.get_json()]


@pytest.fixture
def desk(db):
    return ServiceFactory(
        code="DESK", name="Hot desk", unit_price=Decimal("10"), tax_rate=TaxRateFactory()
    )


@pytest.fixture
def acme(db):
    customer = CustomerFactory(name="Acme Studio Ltd", email="books@acme.example")
    customer.ledger_code = "ACME-001"
    db.commit()  # a request answering 422 rolls back only what came after this point
    return customer


def invoice_form(desk, **picker) -> dict:
    return {
        "currency": "GBP",
        "line_amount_type": "Exclusive",
        "issue_date": date(2026, 1, 10).isoformat(),
        "lines-0-service_id": str(desk.id),
        "lines-0-quantity": "1",
        **picker,
    }


# --- the search endpoint --------------------------------------------------------------------


def test_search_matches_name_email_and_ledger_code_whatever_the_case(db, admin_client, acme):
    CustomerFactory(name="Bolt Works", email="hello@bolt.example")
    db.commit()
    assert names(admin_client.get(SEARCH, query_string={"q": "studio"})) == ["Acme Studio Ltd"]
    assert names(admin_client.get(SEARCH, query_string={"q": "BOOKS@ACME"})) == ["Acme Studio Ltd"]
    assert names(admin_client.get(SEARCH, query_string={"q": " acme-0 "})) == ["Acme Studio Ltd"]
    [found] = admin_client.get(SEARCH, query_string={"q": "acme"}).get_json()
    assert found == {
        "id": acme.id,
        "name": "Acme Studio Ltd",
        "email": "books@acme.example",
        "ledger_code": "ACME-001",
        "is_test": False,
    }


def test_search_lists_names_starting_with_the_text_first_and_at_most_the_limit(db, admin_client):
    for n in range(SEARCH_LIMIT + 5):
        CustomerFactory(name=f"Alpha Harbour {n:02d}")
    CustomerFactory(name="Harbour Works Ltd")
    db.commit()
    found = names(admin_client.get(SEARCH, query_string={"q": "harbour"}))
    assert len(found) == SEARCH_LIMIT
    assert found[0] == "Harbour Works Ltd"
    assert found[1:] == [f"Alpha Harbour {n:02d}" for n in range(SEARCH_LIMIT - 1)]


@pytest.mark.parametrize(
    ("typed", "literal", "lookalike"),
    [
        ("100%", "Desk 100% Ltd", "Desk 100 Ltd"),
        ("1_0", "Co 1_0", "Co 100"),
        ("a\\b", "a\\b", "ab"),
    ],
)
def test_search_takes_wildcards_literally(db, admin_client, typed, literal, lookalike):
    CustomerFactory(name=literal)
    CustomerFactory(name=lookalike)
    db.commit()
    assert names(admin_client.get(SEARCH, query_string={"q": typed})) == [literal]


@pytest.mark.parametrize("typed", ["", "   ", "%", "_"])
def test_search_for_nothing_or_a_lone_wildcard_finds_nobody(db, admin_client, acme, typed):
    assert names(admin_client.get(SEARCH, query_string={"q": typed})) == []


def test_markup_is_data_in_the_answer(db, admin_client):
    CustomerFactory(name="<script>alert(1)</script> Ltd")
    db.commit()
    response = admin_client.get(SEARCH, query_string={"q": "<script>"})
    assert names(response) == ["<script>alert(1)</script> Ltd"]
    # Served as JSON that the browser may not sniff as HTML; the script sets it as text.
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_search_refuses_text_longer_than_any_name(db, admin_client):
    response = admin_client.get(SEARCH, query_string={"q": "a" * 256})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Search for at most 255 characters."}
    assert names(admin_client.get(SEARCH, query_string={"q": "a" * 255})) == []


def test_search_refuses_a_nul_byte(db, admin_client):
    response = admin_client.get(f"{SEARCH}?q=a%00b")
    assert response.status_code == 400
    assert "cannot be used in a search" in response.get_data(as_text=True)


def test_search_is_for_admins_only(db, app, client, acme):
    anonymous = client.get(SEARCH, query_string={"q": "acme"})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    member = CustomerFactory()
    from tests.factories import MemberFactory

    login(client, MemberFactory(customer=member).email)
    refused = client.get(SEARCH, query_string={"q": "acme"})
    assert refused.status_code == 403
    assert b"Acme" not in refused.data


# --- the form ---------------------------------------------------------------------------------


def test_the_form_lists_no_customers(db, admin_client):
    for n in range(30):
        CustomerFactory(name=f"Listed Nowhere {n}")
    db.commit()
    page = text(admin_client.get(NEW))
    assert "Listed Nowhere" not in page
    assert 'data-search-url="/admin/customers/search"' in page
    assert re.search(r'<input[^>]*id="customer_id"[^>]*type="hidden"', page)


def test_a_picked_customer_is_saved_and_the_post_reads_only_that_one(
    db, engine, admin_client, acme, desk
):
    for _ in range(30):
        CustomerFactory()
    db.commit()
    acme_id = acme.id
    form = invoice_form(desk, customer_id=str(acme_id), customer_name="Acme Studio Ltd")
    db.expunge_all()  # the request reads customers from the database, not the test's session
    with count_queries(engine) as statements:
        response = admin_client.post_form(NEW, form)
    assert response.status_code == 302, text(response)
    assert db.scalar(select(Invoice.customer_id)) == acme_id
    customer_reads = [s for s in statements if re.search(r"\bFROM customers\b", s)]
    assert customer_reads, statements
    # Each read of customers names its rows: none loads the whole table as the <select> did.
    assert all(re.search(r"\bWHERE\b", s) for s in customer_reads), customer_reads


@pytest.mark.parametrize("typed", ["Acme Studio Ltd", "acme studio ltd ", "ACME-001", "acme-001"])
def test_without_the_script_an_exact_name_or_ledger_code_is_enough(
    db, admin_client, acme, desk, typed
):
    response = admin_client.post_form(NEW, invoice_form(desk, customer_name=typed))
    assert response.status_code == 302, text(response)
    assert db.scalar(select(Invoice.customer_id)) == acme.id


def test_text_typed_over_the_prefilled_customer_wins(db, admin_client, acme, desk):
    other = CustomerFactory(name="Bolt Works")
    db.commit()
    response = admin_client.post_form(
        NEW, invoice_form(desk, customer_id=str(acme.id), customer_name="Bolt Works")
    )
    assert response.status_code == 302, text(response)
    assert db.scalar(select(Invoice.customer_id)) == other.id


@pytest.mark.parametrize(
    ("picker", "message"),
    [
        (
            {"customer_name": ""},
            "Choose a customer: type part of a name and pick it from the list.",
        ),
        (
            {"customer_name": "Acme"},
            "No customer is called Acme: type part of the name, e-mail or ledger code and pick "
            "one from the list.",
        ),
        (
            {"customer_name": "x" * 300},
            "Choose a customer: type part of a name and pick it from the list.",
        ),
        ({"customer_id": "999999", "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": str(2**31), "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": str(2**63 + 1), "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": "9" * 5000, "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": "-1", "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": "1.0", "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": "abc", "customer_name": "Acme Studio Ltd"}, UNKNOWN),
        ({"customer_id": "١", "customer_name": "Acme Studio Ltd"}, UNKNOWN),
    ],
)
def test_a_customer_that_cannot_be_resolved_is_refused_beside_the_field(
    db, admin_client, acme, desk, picker, message
):
    response = admin_client.post_form(NEW, invoice_form(desk, **picker))
    assert response.status_code == 422
    assert field_errors(response, "customer_name") == [message]
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


def test_two_customers_with_the_typed_name_are_not_guessed_between(db, admin_client, desk):
    CustomerFactory(name="Twin Ltd")
    CustomerFactory(name="twin ltd")
    db.commit()
    response = admin_client.post_form(NEW, invoice_form(desk, customer_name="Twin Ltd"))
    assert response.status_code == 422
    assert field_errors(response, "customer_name") == [
        "More than one customer is called Twin Ltd: type their ledger code instead, or pick "
        "one from the list."
    ]
    assert count(db, Invoice) == 0


def test_a_nul_byte_in_the_picker_is_refused_before_any_lookup(db, admin_client, acme, desk):
    response = admin_client.post_form(
        NEW, invoice_form(desk, customer_id=f"{acme.id}\x00", customer_name="Acme\x00")
    )
    assert response.status_code == 422
    assert field_errors(response, "customer_name") == [
        "This contains a character that cannot be stored."
    ]
    assert count(db, Invoice) == 0


def test_after_another_error_the_chosen_customer_is_still_shown(db, admin_client, acme, desk):
    response = admin_client.post_form(
        NEW,
        invoice_form(desk, customer_name="acme-001", currency="EURO"),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Use a three-letter ISO code such as GBP." in field_errors(response, "currency")
    assert field_errors(response, "customer_name") == []
    # Resolved from the ledger code: the form comes back with the name and the id.
    assert re.search(r'id="customer_name"[^>]*value="Acme Studio Ltd"', page)
    assert re.search(rf'id="customer_id"[^>]*value="{acme.id}"', page)


def test_editing_a_draft_shows_its_customer_and_can_change_it(db, admin_client, acme, desk):
    draft = make_invoice(db, acme, [(desk, "1")], issue=False)
    other = CustomerFactory(name="Bolt Works")
    db.commit()
    page = admin_client.get(f"/admin/invoices/{draft.id}/edit").get_data(as_text=True)
    assert re.search(r'id="customer_name"[^>]*value="Acme Studio Ltd"', page)
    assert re.search(rf'id="customer_id"[^>]*value="{acme.id}"', page)
    response = admin_client.post_form(
        f"/admin/invoices/{draft.id}/edit",
        invoice_form(desk, customer_id=str(other.id), customer_name="Bolt Works"),
    )
    assert response.status_code == 302, text(response)
    db.expire_all()
    assert db.get(Invoice, draft.id).customer_id == other.id


def test_a_prefill_naming_no_customer_is_404(db, admin_client):
    assert admin_client.get(f"{NEW}?customer_id=999999").status_code == 404
