"""Admin pages for customers and their member logins, driven through HTTP requests."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.customers import Customer
from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment
from billing.users import User
from tests.conftest import login
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from tests.portal.pages import count, field_errors, text

MARKUP = "<script>alert(1)</script>"


def customer_form(**changes) -> dict:
    return {
        "name": "Acme Studio Ltd",
        "contact_name": "Ada Lovelace",
        "email": "Accounts@Acme.example",
        "phone": "+44 (0)20 7946 0000",
        "address": "1 High Street\nLondon",
        "ledger_code": "ACME-01",
        "payment_terms_days": "30",
        **changes,
    }


@pytest.fixture
def acme(db, admin_client):
    customer = CustomerFactory(name="Acme Studio Ltd", ledger_code="ACME-01")
    db.commit()  # a request answering 422 rolls back only what came after this point
    return customer


# --- create and edit ----------------------------------------------------------------------------


def test_new_customer_form_prefills_default_payment_terms(admin_client):
    page = admin_client.get("/admin/customers/new").get_data(as_text=True)
    assert re.search(r'id="payment_terms_days"[^>]*value="14"', page)


def test_create_customer_with_every_field(db, admin_client):
    response = admin_client.post_form("/admin/customers/new", customer_form())
    assert response.status_code == 302, text(response)
    customer = db.scalar(select(Customer).where(Customer.ledger_code == "ACME-01"))
    assert response.headers["Location"].endswith(f"/admin/customers/{customer.id}")
    assert (customer.name, customer.contact_name) == ("Acme Studio Ltd", "Ada Lovelace")
    assert customer.email == "accounts@acme.example"
    assert customer.phone == "+44 (0)20 7946 0000"
    assert customer.address == "1 High Street\nLondon"
    assert customer.payment_terms_days == 30
    page = text(admin_client.get(f"/admin/customers/{customer.id}"))
    assert "Ada Lovelace" in page and "30 days" in page and "ACME-01" in page


def test_blank_ledger_code_is_stored_as_none_so_many_customers_can_have_none(db, admin_client):
    for name in ("One Ltd", "Two Ltd"):
        response = admin_client.post_form(
            "/admin/customers/new", customer_form(name=name, ledger_code="")
        )
        assert response.status_code == 302, text(response)
    assert db.scalars(select(Customer.ledger_code)).all() == [None, None]


def test_edit_customer(db, admin_client, acme):
    form = admin_client.get(f"/admin/customers/{acme.id}/edit")
    assert re.search(r'id="name"[^>]*value="Acme Studio Ltd"', form.get_data(as_text=True))
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/edit",
        customer_form(name="Acme Renamed", payment_terms_days="0", ledger_code="ACME-01"),
    )
    assert response.status_code == 302, text(response)
    db.expire_all()
    customer = db.get(Customer, acme.id)
    assert (customer.name, customer.payment_terms_days) == ("Acme Renamed", 0)
    assert customer.ledger_code == "ACME-01"


def test_ledger_code_must_be_unique(db, admin_client, acme):
    before = count(db, Customer)
    response = admin_client.post_form("/admin/customers/new", customer_form(name="Copycat"))
    assert response.status_code == 422
    assert "Ledger code ACME-01 is already used by another customer." in field_errors(
        response, "ledger_code"
    )
    assert count(db, Customer) == before


def test_ledger_code_clash_on_edit_changes_nothing(db, admin_client, acme):
    other_id = CustomerFactory(name="Other Ltd", ledger_code="OTHER").id
    db.commit()
    response = admin_client.post_form(
        f"/admin/customers/{other_id}/edit", customer_form(name="Renamed", ledger_code="ACME-01")
    )
    assert response.status_code == 422
    assert "already used by another customer" in " ".join(field_errors(response, "ledger_code"))
    other = db.get(Customer, other_id)
    assert (other.name, other.ledger_code) == ("Other Ltd", "OTHER")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required."),
        ("name", "  ", "This field is required."),
        ("name", "N" * 256, "Field cannot be longer than 255 characters."),
        ("contact_name", "C" * 256, "Field cannot be longer than 255 characters."),
        ("email", "not-an-email", "Enter a valid email address."),
        ("email", "a@b", "Enter a valid email address."),
        ("email", "a b@c.example", "Enter a valid email address."),
        ("email", "<b>@x.example", "Enter a valid email address."),
        ("email", "e" * 250 + "@x.example", "Field cannot be longer than 254 characters."),
        ("phone", "call me", "Use digits, spaces and + ( ) - only."),
        ("phone", "1" * 51, "Field cannot be longer than 50 characters."),
        ("address", "A" * 1001, "Field cannot be longer than 1000 characters."),
        ("ledger_code", "L" * 51, "Field cannot be longer than 50 characters."),
        ("ledger_code", "ACME 01", "Use letters, digits, dot, dash or underscore."),
        ("payment_terms_days", "", "This field is required."),
        ("payment_terms_days", "-1", "Number must be between 0 and 365."),
        ("payment_terms_days", "366", "Number must be between 0 and 365."),
        ("payment_terms_days", "99999999999999999999", "Number must be between 0 and 365."),
        ("payment_terms_days", "7.5", "Not a valid integer value."),
        ("payment_terms_days", "thirty", "Not a valid integer value."),
    ],
)
def test_bad_customer_input_is_refused_next_to_the_field(db, admin_client, field, value, message):
    before = count(db, Customer)
    response = admin_client.post_form("/admin/customers/new", customer_form(**{field: value}))
    assert response.status_code == 422
    assert message in field_errors(response, field)
    assert count(db, Customer) == before


def test_bad_input_on_edit_changes_nothing(db, admin_client, acme):
    acme_id = acme.id
    response = admin_client.post_form(
        f"/admin/customers/{acme_id}/edit", customer_form(name="Renamed", payment_terms_days="400")
    )
    assert response.status_code == 422
    assert db.get(Customer, acme_id).name == "Acme Studio Ltd"


def test_markup_is_stored_as_text_and_escaped(db, admin_client):
    response = admin_client.post_form(
        "/admin/customers/new",
        customer_form(name=MARKUP, contact_name=MARKUP, address=MARKUP, ledger_code=""),
    )
    assert response.status_code == 302
    customer = db.scalar(select(Customer))
    assert customer.name == MARKUP
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for url in ("/admin/customers", f"/admin/customers/{customer.id}"):
        page = admin_client.get(url).get_data(as_text=True)
        assert MARKUP not in page
        assert escaped in page


def test_unknown_customer_is_404(admin_client):
    assert admin_client.get("/admin/customers/999999").status_code == 404
    assert admin_client.get("/admin/customers/999999/edit").status_code == 404
    assert admin_client.post_form("/admin/customers/999999/members", {}).status_code == 404


def test_search_customers(db, admin_client, acme):
    CustomerFactory(name="Zebra Ltd", email="zed@zebra.example")
    db.commit()
    by_name = text(admin_client.get("/admin/customers?q=acme"))
    assert "Acme Studio Ltd" in by_name and "Zebra Ltd" not in by_name
    by_email = text(admin_client.get("/admin/customers?q=zed@"))
    assert "Zebra Ltd" in by_email and "Acme Studio Ltd" not in by_email
    by_code = text(admin_client.get("/admin/customers?q=ACME-01"))
    assert "Acme Studio Ltd" in by_code and "Zebra Ltd" not in by_code


# --- amounts owed -------------------------------------------------------------------------------


def test_customer_page_and_list_show_what_is_owed(db, admin_client, acme):
    desk = ServiceFactory(unit_price=Decimal("24.95"))
    room = ServiceFactory(unit_price=Decimal("10.00"))
    other = CustomerFactory(name="Beta Ltd")
    make_invoice(db, acme, lines=[(desk, "3")])  # 89.82 awaiting payment
    part = make_invoice(db, acme, lines=[(room, "5")])  # 60.00, 20.00 paid -> 40.00 due
    record_payment(db, part, amount=Decimal("20.00"), paid_on=date.today(), method="manual")
    make_invoice(db, acme, lines=[(desk, "1")], issue=False)  # drafts are not owed
    voided = make_invoice(db, acme, lines=[(desk, "1")])
    void_invoice(db, voided)  # voided invoices are not owed
    paid = make_invoice(db, acme, lines=[(room, "1")])
    record_payment(db, paid, amount=Decimal("12.00"), paid_on=date.today(), method="manual")
    make_invoice(db, other, lines=[(room, "1")])  # 12.00 owed by someone else
    db.commit()

    page = text(admin_client.get(f"/admin/customers/{acme.id}"))
    owed = re.search(r"Currently owed</div>\s*<div class=\"big\">(.*?)</div>", page).group(1)
    assert owed == "£129.82"

    listing = admin_client.get("/admin/customers").get_data(as_text=True)
    rows = {
        name: cell
        for name, cell in re.findall(
            r'<a href="/admin/customers/\d+">(.*?)</a>.*?<td class="num">(.*?)</td>', listing, re.S
        )
    }
    assert "£129.82" in rows["Acme Studio Ltd"]
    assert "£12.00" in rows["Beta Ltd"]


def test_customer_owing_nothing_says_so(admin_client, acme):
    page = text(admin_client.get(f"/admin/customers/{acme.id}"))
    assert re.search(r'Currently owed</div>\s*<div class="big">Nothing</div>', page)
    assert "nothing" in text(admin_client.get("/admin/customers"))


# --- member logins ------------------------------------------------------------------------------


def member_form(**changes) -> dict:
    return {
        "name": "Grace Hopper",
        "email": "Grace@Acme.example",
        "password": "a long enough password",
        **changes,
    }


def test_add_member_login_who_can_then_sign_in(db, app, admin_client, acme):
    response = admin_client.post_form(f"/admin/customers/{acme.id}/members", member_form())
    assert response.status_code == 302, text(response)
    user = db.scalar(select(User).where(User.email == "grace@acme.example"))
    assert (user.role, user.customer_id, user.name) == ("member", acme.id, "Grace Hopper")
    page = text(admin_client.get(f"/admin/customers/{acme.id}"))
    assert "Grace Hopper" in page and "grace@acme.example" in page

    member = app.test_client()
    assert login(member, "grace@acme.example", "a long enough password").status_code == 302
    home = member.get("/")
    assert home.status_code == 200
    assert "Acme Studio Ltd" in text(home)


def test_duplicate_member_email_is_refused(db, admin_client, acme, admin):
    admin_client.post_form(f"/admin/customers/{acme.id}/members", member_form())
    before = count(db, User)
    for email in ("grace@acme.example", "GRACE@acme.example", admin.email.upper()):
        response = admin_client.post_form(
            f"/admin/customers/{acme.id}/members", member_form(email=email, name="Someone")
        )
        assert response.status_code == 422
        assert "already exists" in " ".join(field_errors(response, "email"))
    assert count(db, User) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("password", "short", "Field must be between 10 and 200 characters long."),
        ("password", "", "This field is required."),
        ("password", "p" * 201, "Field must be between 10 and 200 characters long."),
        ("name", "", "This field is required."),
        ("name", "N" * 121, "Field cannot be longer than 120 characters."),
        ("email", "", "This field is required."),
        ("email", "grace", "Enter a valid email address."),
    ],
)
def test_bad_member_login_is_refused(db, admin_client, acme, field, value, message):
    before = count(db, User)
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/members", member_form(**{field: value})
    )
    assert response.status_code == 422
    assert message in field_errors(response, field)
    assert count(db, User) == before


def test_members_cannot_use_admin_customer_pages(db, member_client, member):
    assert member_client.get("/admin/customers").status_code == 403
    before = count(db, User)
    response = member_client.post_form(
        f"/admin/customers/{member.customer_id}/members", member_form()
    )
    assert response.status_code == 403
    assert count(db, User) == before
