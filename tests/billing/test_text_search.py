"""Search boxes: what an admin types is matched literally, never as a LIKE wildcard (% and _)
or escape character (\\ and /), with surrounding spaces ignored, in each search the portal has:
services, invoices and customers."""

import pytest

from billing.services import search_services
from billing.statements import invoice_list
from tests.factories import CustomerFactory, ServiceFactory, make_invoice

#: (what is typed, the name it must find, a name it would find were it a pattern)
CASES = [
    ("100%", "Desk 100% quiet", "Desk 100 quiet"),
    ("1_0", "Desk 1_0", "Desk 100"),
    ("a\\b", "Desk a\\b", "Desk ab"),
    ("a/b", "Desk a/b", "Desk ab"),
    (" 50%_off\\ ", "Sale 50%_off\\ now", "Sale 50 % off now"),
]


@pytest.mark.parametrize(("typed", "literal", "lookalike"), CASES)
def test_services_search_matches_what_was_typed_literally(db, typed, literal, lookalike):
    ServiceFactory(code="A", name=literal)
    ServiceFactory(code="B", name=lookalike)
    found = db.scalars(search_services(db, typed)).all()
    assert [s.code for s in found] == ["A"]


def test_services_search_for_a_lone_wildcard_finds_nothing(db):
    ServiceFactory(code="A", name="Desk 100 quiet")
    assert db.scalars(search_services(db, "_")).all() == []
    assert db.scalars(search_services(db, "%")).all() == []


@pytest.mark.parametrize(("typed", "literal", "lookalike"), CASES)
def test_invoices_search_matches_what_was_typed_literally(db, typed, literal, lookalike):
    wanted = make_invoice(db, CustomerFactory(name=literal))
    make_invoice(db, CustomerFactory(name=lookalike))
    found = db.scalars(invoice_list(search=typed)).unique().all()
    assert [i.id for i in found] == [wanted.id]


@pytest.mark.parametrize(("typed", "literal", "lookalike"), CASES)
def test_customers_search_matches_what_was_typed_literally(
    db, admin_client, typed, literal, lookalike
):
    CustomerFactory(name=literal)
    CustomerFactory(name=lookalike)
    page = admin_client.get("/admin/customers", query_string={"q": typed})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert literal in html
    assert lookalike not in html


def test_invoices_search_ignores_case_and_each_search_uses_its_own_text(db):
    # billing.db.ContainsText renders ILIKE on PostgreSQL and plain LIKE on SQLite: both
    # ignore the case of ASCII letters. The same statement shape runs twice with different
    # text: a cached statement must not keep the first search's text.
    acme = make_invoice(db, CustomerFactory(name="ACME Studios Ltd"))
    beta = make_invoice(db, CustomerFactory(name="Beta Works"))
    beta.reference = "Desk for BETA"
    db.flush()
    for typed, wanted in (
        ("acme studios", [acme.id]),
        ("beta", [beta.id]),
        ("FOR b", [beta.id]),
        ("ltd", [acme.id]),
    ):
        found = db.scalars(invoice_list(search=typed)).unique().all()
        assert [i.id for i in found] == wanted, typed
    assert db.scalars(invoice_list(search=acme.number.lower())).unique().all() == [acme]
