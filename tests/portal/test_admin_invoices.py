"""Admin invoice pages: drafts, issuing, voiding, deleting and the list, through HTTP."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.invoices.model import Invoice, InvoiceLine, InvoiceStatus
from billing.payments.operations import record_payment
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory, make_invoice
from tests.portal.pages import count, field_errors, text
from xero.models import JobKind, SyncJob

ISSUE_DATE = date(2026, 1, 10)


def form_errors(response) -> str:
    found = re.search(
        r'<div class="form-errors" role="alert">(.*?)</div>\s*(?:<form|$)', text(response), re.S
    )
    return found.group(1) if found else ""


def line_errors(response, index: int, name: str) -> list[str]:
    """Messages rendered in the table cell of one line's field."""
    page = response.get_data(as_text=True)
    start = page.index(f'id="lines-{index}-{name}"')
    chunk = page[start : page.index("</td>", start)]
    return [html.unescape(e) for e in re.findall(r'<div class="errors">(.*?)</div>', chunk)]


def invoice_form(customer, lines, **changes) -> dict:
    """Form data for the draft form; ``lines`` are dicts of service_id/description/...."""
    data = {
        "customer_id": str(customer.id),
        "currency": "GBP",
        "line_amount_type": "Exclusive",
        "issue_date": ISSUE_DATE.isoformat(),
        "due_date": "",
        "expected_payment_date": "",
        "reference": "",
    }
    for i, line in enumerate(lines):
        for key in ("service_id", "description", "quantity", "unit_price"):
            data[f"lines-{i}-{key}"] = str(line.get(key, ""))
    data.update(changes)
    return data


@pytest.fixture
def vat(db):
    return TaxRateFactory(name="Standard", rate_percent=Decimal("20"))


@pytest.fixture
def desk(db, vat):
    return ServiceFactory(
        code="DESK", name="Hot desk", description="", unit_price=Decimal("24.95"), tax_rate=vat
    )


@pytest.fixture
def acme(db, admin_client, desk):
    customer = CustomerFactory(name="Acme Studio Ltd", payment_terms_days=30)
    db.commit()  # a request answering 422 rolls back only what came after this point
    return customer


def the_invoice(db) -> Invoice:
    db.expire_all()
    return db.scalar(select(Invoice))


# --- drafts -------------------------------------------------------------------------------------


def test_new_invoice_form_offers_active_services_and_prefills_the_customer(
    admin_client, acme, desk
):
    response = admin_client.get(f"/admin/invoices/new?customer_id={acme.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "DESK - Hot desk" in page
    assert re.search(rf'<option selected value="{acme.id}">Acme Studio Ltd</option>', page)
    assert re.search(r'id="currency"[^>]*value="GBP"', page)
    assert admin_client.get("/admin/invoices/new?customer_id=abc").status_code == 400


def test_create_draft_fills_blank_line_fields_from_the_service(db, admin_client, acme, desk):
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [{"service_id": desk.id}, {}, {}])
    )
    assert response.status_code == 302, text(response)
    invoice = the_invoice(db)
    assert response.headers["Location"].endswith(f"/admin/invoices/{invoice.id}")
    assert invoice.state is InvoiceStatus.DRAFT
    assert invoice.number is None
    assert invoice.customer_id == acme.id
    # Blank due date: the invoice date plus the customer's 30 days.
    assert invoice.due_date == ISSUE_DATE + timedelta(days=30)
    [line] = invoice.lines
    assert (line.description, line.quantity, line.unit_price) == (
        "Hot desk",
        Decimal("1"),
        Decimal("24.95"),
    )
    assert (invoice.subtotal, invoice.total_tax, invoice.total) == (
        Decimal("24.95"),
        Decimal("4.99"),
        Decimal("29.94"),
    )
    page = text(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert f"Draft {invoice.id}" in page and "£29.94" in page


@pytest.mark.parametrize(
    ("amounts", "subtotal", "tax", "total"),
    [
        ("Exclusive", "74.85", "14.97", "89.82"),
        ("Inclusive", "62.37", "12.48", "74.85"),
        ("NoTax", "74.85", "0.00", "74.85"),
    ],
)
def test_line_amount_types_give_the_right_totals(
    db, admin_client, acme, desk, amounts, subtotal, tax, total
):
    response = admin_client.post_form(
        "/admin/invoices/new",
        invoice_form(
            acme,
            [{"service_id": desk.id, "description": "Desks", "quantity": "3"}],
            line_amount_type=amounts,
        ),
    )
    assert response.status_code == 302, text(response)
    invoice = the_invoice(db)
    assert invoice.line_amount_type == amounts
    assert (invoice.subtotal, invoice.total_tax, invoice.total) == (
        Decimal(subtotal),
        Decimal(tax),
        Decimal(total),
    )
    [line] = invoice.lines
    assert (line.line_amount, line.tax_amount) == (Decimal("74.85"), Decimal(tax))
    page = text(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert f"£{total}" in page


def test_explicit_due_date_price_and_reference_are_kept(db, admin_client, acme, desk):
    response = admin_client.post_form(
        "/admin/invoices/new",
        invoice_form(
            acme,
            [
                {
                    "service_id": desk.id,
                    "description": "Desk, Jan",
                    "quantity": "2.5",
                    "unit_price": "10.1234",
                }
            ],
            due_date="2026-01-20",
            expected_payment_date="2026-01-18",
            reference="PO 42",
        ),
    )
    assert response.status_code == 302, text(response)
    invoice = the_invoice(db)
    assert (invoice.due_date, invoice.expected_payment_date) == (
        date(2026, 1, 20),
        date(2026, 1, 18),
    )
    assert invoice.reference == "PO 42"
    [line] = invoice.lines
    assert (line.quantity, line.unit_price, line.line_amount) == (
        Decimal("2.5"),
        Decimal("10.1234"),
        Decimal("25.31"),
    )


def test_edit_draft_lines(db, admin_client, acme, desk):
    room = ServiceFactory(
        code="ROOM", name="Room", unit_price=Decimal("10"), tax_rate=desk.tax_rate
    )
    draft = make_invoice(db, acme, lines=[(desk, "1")], issue=False)
    db.commit()
    form = admin_client.get(f"/admin/invoices/{draft.id}/edit")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert re.search(r'id="lines-0-unit_price"[^>]*value="24.95"', page)
    assert re.search(r'id="lines-0-quantity"[^>]*value="1"', page)

    response = admin_client.post_form(
        f"/admin/invoices/{draft.id}/edit",
        invoice_form(
            acme,
            [
                {"service_id": room.id, "quantity": "2"},
                {},
                {"service_id": desk.id, "description": "Desk", "quantity": "3"},
            ],
        ),
    )
    assert response.status_code == 302, text(response)
    invoice = the_invoice(db)
    assert [(x.service_id, x.position, x.quantity) for x in invoice.lines] == [
        (room.id, 1, Decimal("2")),
        (desk.id, 2, Decimal("3")),
    ]
    assert invoice.total == Decimal("113.82")  # (20.00 + 74.85) + (4.00 + 14.97)
    assert count(db, InvoiceLine) == 2


# --- bad input ----------------------------------------------------------------------------------


def good_line(desk) -> dict:
    return {"service_id": desk.id, "description": "Desk", "quantity": "1", "unit_price": "5"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", "0", "Must be more than 0."),
        ("quantity", "-1", "Must be more than 0."),
        ("quantity", "two", "Quantity must be a number."),
        ("quantity", "1e2", "Quantity must be a number."),
        ("quantity", "1.00001", "Quantity can have at most 4 decimal places."),
        ("quantity", "1000001", "Cannot be more than 1,000,000."),
        ("quantity", "NaN", "Quantity must be a number."),
        ("unit_price", "-0.01", "Cannot be less than 0."),
        ("unit_price", "1.00001", "Unit price can have at most 4 decimal places."),
        ("unit_price", "1000000000.01", "Cannot be more than 1,000,000,000."),
        ("unit_price", "Infinity", "Unit price must be a number."),
        ("service_id", "999999", "Choose one of the active services."),
        ("service_id", "abc", "Choose one of the active services."),
        ("service_id", "", "Choose one of the active services."),
        ("description", "d" * 4001, "Field cannot be longer than 4000 characters."),
    ],
)
def test_bad_line_is_refused_next_to_the_field(db, admin_client, acme, desk, field, value, message):
    before = (count(db, Invoice), count(db, InvoiceLine))
    line = {**good_line(desk), field: value}
    response = admin_client.post_form("/admin/invoices/new", invoice_form(acme, [line]))
    assert response.status_code == 422
    assert message in line_errors(response, 0, field)
    assert (count(db, Invoice), count(db, InvoiceLine)) == before


def test_archived_service_is_refused(db, admin_client, acme, vat):
    archived = ServiceFactory(code="OLD", active=False, tax_rate=vat)
    db.commit()
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [{"service_id": archived.id}])
    )
    assert response.status_code == 422
    assert "Choose one of the active services." in line_errors(response, 0, "service_id")
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_date": "2026-01-09"}, "The due date cannot be before the invoice date."),
        (
            {"expected_payment_date": "2026-01-09"},
            "The expected payment date cannot be before the invoice date.",
        ),
        ({"currency": "EUR"}, "Hot desk is priced in GBP, the invoice is in EUR."),
        ({"issue_date": "9999-12-31"}, "The due date is out of range."),
        ({"lines-0-quantity": "1000000", "lines-0-unit_price": "1000000000"}, "larger than"),
    ],
)
def test_bad_invoice_is_refused_with_a_message(db, admin_client, acme, desk, changes, message):
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [good_line(desk)], **changes)
    )
    assert response.status_code == 422
    assert message in form_errors(response)
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("customer_id", "999999", "Not a valid choice."),
        ("customer_id", "abc", "Invalid Choice: could not coerce."),
        ("customer_id", "0", "Choose a customer."),
        ("currency", "EURO", "Use a three-letter ISO code such as GBP."),
        ("currency", "ABC", "ABC is not a known currency."),
        ("issue_date", "", "This field is required."),
        ("issue_date", "10/01/2026", "Not a valid date value."),
        ("due_date", "tomorrow", "Not a valid date value."),
        ("line_amount_type", "Gross", "Not a valid choice."),
        ("reference", "r" * 256, "Field cannot be longer than 255 characters."),
    ],
)
def test_bad_invoice_header_is_refused_next_to_the_field(
    db, admin_client, acme, desk, field, value, message
):
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [good_line(desk)], **{field: value})
    )
    assert response.status_code == 422
    assert message in field_errors(response, field)
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


def test_service_in_another_currency_is_refused(db, admin_client, acme, vat):
    euro = ServiceFactory(code="EU-DESK", name="Euro desk", currency="EUR", tax_rate=vat)
    db.commit()
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [{"service_id": euro.id}])
    )
    assert response.status_code == 422
    assert "Euro desk is priced in EUR, the invoice is in GBP." in form_errors(response)
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


def test_an_invoice_needs_a_line(db, admin_client, acme):
    response = admin_client.post_form("/admin/invoices/new", invoice_form(acme, [{}, {}]))
    assert response.status_code == 422
    assert "Add at least one line." in form_errors(response)
    assert count(db, Invoice) == 0


def test_more_than_100_lines_are_refused_not_truncated(db, admin_client, acme, desk):
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [good_line(desk)] * 101)
    )
    assert response.status_code == 422
    assert re.search(
        r'<div class="form-errors" role="alert">An invoice can have at most 100 lines.</div>',
        text(response),
    )
    assert (count(db, Invoice), count(db, InvoiceLine)) == (0, 0)


def test_100_lines_are_accepted(db, admin_client, acme, desk):
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [good_line(desk)] * 100)
    )
    assert response.status_code == 302, form_errors(response)
    assert count(db, InvoiceLine) == 100


def test_blank_spaces_in_quantity_and_price_mean_the_service_defaults(db, admin_client, acme, desk):
    line = {"service_id": desk.id, "quantity": "  ", "unit_price": " "}
    response = admin_client.post_form("/admin/invoices/new", invoice_form(acme, [line]))
    assert response.status_code == 302, text(response)
    [saved] = the_invoice(db).lines
    assert (saved.quantity, saved.unit_price) == (Decimal("1"), Decimal("24.95"))


def test_bad_edit_of_a_draft_changes_nothing(db, admin_client, acme, desk):
    draft_id = make_invoice(db, acme, lines=[(desk, "2")], issue=False).id
    db.commit()
    response = admin_client.post_form(
        f"/admin/invoices/{draft_id}/edit",
        invoice_form(acme, [{**good_line(desk), "quantity": "0"}], reference="changed"),
    )
    assert response.status_code == 422
    invoice = db.get(Invoice, draft_id)
    assert invoice.reference == ""
    assert [line.quantity for line in invoice.lines] == [Decimal("2")]


def test_edit_draft_omitting_line_fields_is_not_a_crash(db, admin_client, acme, desk):
    draft_id = make_invoice(db, acme, lines=[(desk, "2")], issue=False).id
    db.commit()
    data = invoice_form(acme, [good_line(desk)])
    del data["lines-0-quantity"], data["lines-0-unit_price"]
    response = admin_client.post_form(f"/admin/invoices/{draft_id}/edit", data)
    assert response.status_code == 302, text(response)
    # Fields left out keep the line's stored values (not a 500 on Decimal.strip()).
    [line] = the_invoice(db).lines
    assert (line.quantity, line.unit_price) == (Decimal("2"), Decimal("24.95"))


# --- issue, void, delete ------------------------------------------------------------------------


class TestNumbering:
    @pytest.fixture
    def app_settings(self):
        return {"INVOICE_PREFIX": "ADM-"}

    def test_issue_numbers_the_invoice_and_twice_is_a_no_op(self, db, admin_client, acme, desk):
        first = make_invoice(db, acme, lines=[(desk, "1")], issue=False)
        second = make_invoice(db, acme, lines=[(desk, "1")], issue=False)
        db.commit()
        response = admin_client.post_form(f"/admin/invoices/{first.id}/issue")
        assert response.status_code == 302
        invoice = db.get(Invoice, first.id)
        assert (invoice.number, invoice.state) == ("ADM-00001", InvoiceStatus.AWAITING_PAYMENT)
        assert invoice.issued_at is not None

        again = admin_client.post_form(f"/admin/invoices/{first.id}/issue", follow_redirects=True)
        assert again.status_code == 200
        assert "Invoice ADM-00001 was already issued; nothing changed." in text(again)
        assert db.get(Invoice, first.id).number == "ADM-00001"
        jobs = db.scalars(select(SyncJob).where(SyncJob.object_id == first.id)).all()
        assert [job.kind for job in jobs] == [JobKind.INVOICE]

        admin_client.post_form(f"/admin/invoices/{second.id}/issue")
        assert db.get(Invoice, second.id).number == "ADM-00002"
        page = text(admin_client.get(f"/admin/invoices/{first.id}"))
        assert "Invoice ADM-00001" in page and "Awaiting payment" in page


def test_issue_needs_the_csrf_token(db, admin_client, acme, desk):
    draft_id = make_invoice(db, acme, lines=[(desk, "1")], issue=False).id
    db.commit()
    assert admin_client.post(f"/admin/invoices/{draft_id}/issue").status_code == 400
    assert db.get(Invoice, draft_id).state is InvoiceStatus.DRAFT


def test_issuing_a_paid_invoice_changes_nothing(db, admin_client, acme, desk):
    invoice = make_invoice(db, acme, lines=[(desk, "1")])
    record_payment(db, invoice, amount=invoice.total, paid_on=ISSUE_DATE, method="manual")
    invoice_id, number = invoice.id, invoice.number
    db.commit()
    admin_client.post_form(f"/admin/invoices/{invoice_id}/issue")
    invoice = db.get(Invoice, invoice_id)
    db.refresh(invoice)
    assert (invoice.state, invoice.number) == (InvoiceStatus.PAID, number)


def test_issuing_a_voided_invoice_is_refused(db, admin_client, acme, desk):
    invoice = make_invoice(db, acme, lines=[(desk, "1")])
    invoice.status = InvoiceStatus.VOIDED
    invoice_id, number = invoice.id, invoice.number
    db.commit()
    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/issue")
    assert response.status_code == 409
    invoice = db.get(Invoice, invoice_id)
    assert (invoice.state, invoice.number) == (InvoiceStatus.VOIDED, number)


def test_void_asks_for_confirmation_then_voids(db, admin_client, acme, desk):
    invoice_id = make_invoice(db, acme, lines=[(desk, "1")]).id
    db.commit()
    confirm = admin_client.get(f"/admin/invoices/{invoice_id}/void")
    assert confirm.status_code == 200
    assert "Void invoice INV-00001?" in text(confirm)
    assert db.get(Invoice, invoice_id).state is InvoiceStatus.AWAITING_PAYMENT

    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/void")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Invoice, invoice_id).state is InvoiceStatus.VOIDED


def test_void_is_refused_when_payments_exist(db, admin_client, acme, desk):
    invoice = make_invoice(db, acme, lines=[(desk, "2")])
    record_payment(db, invoice, amount=Decimal("10.00"), paid_on=ISSUE_DATE, method="manual")
    invoice_id = invoice.id
    db.commit()
    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/void", follow_redirects=True)
    assert "An invoice with payments cannot be voided." in text(response)
    db.expire_all()
    invoice = db.get(Invoice, invoice_id)
    assert (invoice.state, invoice.amount_paid) == (
        InvoiceStatus.AWAITING_PAYMENT,
        Decimal("10.00"),
    )


def test_delete_a_draft_after_confirmation(db, admin_client, acme, desk):
    draft_id = make_invoice(db, acme, lines=[(desk, "1")], issue=False).id
    db.commit()
    confirm = admin_client.get(f"/admin/invoices/{draft_id}/delete")
    assert confirm.status_code == 200
    assert f"Delete draft Draft {draft_id}?" in text(confirm)
    assert db.get(Invoice, draft_id).state is InvoiceStatus.DRAFT

    response = admin_client.post_form(f"/admin/invoices/{draft_id}/delete")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Invoice, draft_id).state is InvoiceStatus.DELETED
    assert admin_client.get(f"/admin/invoices/{draft_id}").status_code == 404
    assert f"Draft {draft_id}" not in text(admin_client.get("/admin/invoices"))


def test_only_drafts_can_be_deleted(db, admin_client, acme, desk):
    invoice_id = make_invoice(db, acme, lines=[(desk, "1")]).id
    db.commit()
    confirm = admin_client.get(f"/admin/invoices/{invoice_id}/delete", follow_redirects=True)
    assert "Delete draft" not in text(confirm)
    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/delete", follow_redirects=True)
    assert "cannot" in text(response)
    db.expire_all()
    assert db.get(Invoice, invoice_id).state is InvoiceStatus.AWAITING_PAYMENT


def test_a_draft_cannot_be_voided(db, admin_client, acme, desk):
    draft_id = make_invoice(db, acme, lines=[(desk, "1")], issue=False).id
    db.commit()
    admin_client.post_form(f"/admin/invoices/{draft_id}/void")
    db.expire_all()
    assert db.get(Invoice, draft_id).state is InvoiceStatus.DRAFT


def test_unknown_invoice_is_404(admin_client):
    for url in ("/admin/invoices/999999", "/admin/invoices/999999/edit"):
        assert admin_client.get(url).status_code == 404
    for url in ("issue", "void", "delete"):
        assert admin_client.post_form(f"/admin/invoices/999999/{url}").status_code == 404


# --- changing an issued invoice -----------------------------------------------------------------


def issued_form(**changes) -> dict:
    return {
        "reference": "PO 7",
        "due_date": "2026-02-28",
        "expected_payment_date": "2026-02-20",
        **changes,
    }


def test_awaiting_payment_invoice_changes_dates_and_reference_not_lines(
    db, admin_client, acme, desk
):
    invoice = make_invoice(db, acme, lines=[(desk, "1")], issue_date=ISSUE_DATE)
    invoice_id, total = invoice.id, invoice.total
    db.commit()
    form = admin_client.get(f"/admin/invoices/{invoice_id}/edit")
    assert form.status_code == 200
    assert "lines-0" not in form.get_data(as_text=True)

    response = admin_client.post_form(
        f"/admin/invoices/{invoice_id}/edit",
        issued_form(**{"lines-0-service_id": str(desk.id), "lines-0-quantity": "9"}),
    )
    assert response.status_code == 302, text(response)
    db.expire_all()
    invoice = db.get(Invoice, invoice_id)
    assert invoice.reference == "PO 7"
    assert (invoice.due_date, invoice.expected_payment_date) == (
        date(2026, 2, 28),
        date(2026, 2, 20),
    )
    assert [line.quantity for line in invoice.lines] == [Decimal("1")]
    assert invoice.total == total


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_date": "2026-01-09"}, "The due date cannot be before the invoice date."),
        (
            {"expected_payment_date": "2026-01-01"},
            "The expected payment date cannot be before the invoice date.",
        ),
        ({"due_date": ""}, "This field is required."),
        ({"reference": "r" * 256}, "Field cannot be longer than 255 characters."),
    ],
)
def test_bad_change_to_an_issued_invoice_is_refused(db, admin_client, acme, desk, changes, message):
    invoice = make_invoice(db, acme, lines=[(desk, "1")], issue_date=ISSUE_DATE)
    invoice_id, due = invoice.id, invoice.due_date
    db.commit()
    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/edit", issued_form(**changes))
    assert response.status_code == 422
    assert message in text(response)
    invoice = db.get(Invoice, invoice_id)
    assert (invoice.reference, invoice.due_date) == ("", due)


@pytest.mark.parametrize("final", ["voided", "paid"])
def test_voided_and_paid_invoices_cannot_be_edited(db, admin_client, acme, desk, final):
    invoice = make_invoice(db, acme, lines=[(desk, "1")], issue_date=ISSUE_DATE)
    if final == "paid":
        record_payment(db, invoice, amount=invoice.total, paid_on=ISSUE_DATE, method="manual")
    else:
        invoice.status = InvoiceStatus.VOIDED
    invoice_id, due = invoice.id, invoice.due_date
    db.commit()
    page = admin_client.get(f"/admin/invoices/{invoice_id}/edit", follow_redirects=True)
    assert "invoice cannot be changed" in text(page)
    response = admin_client.post_form(f"/admin/invoices/{invoice_id}/edit", issued_form())
    assert response.status_code == 302
    db.expire_all()
    invoice = db.get(Invoice, invoice_id)
    assert (invoice.reference, invoice.due_date, invoice.status) == ("", due, final)


# --- the list -----------------------------------------------------------------------------------


class TestList:
    @pytest.fixture
    def app_settings(self):
        return {"PAGE_SIZE": 2}

    @pytest.fixture
    def invoices(self, db, acme, desk):
        beta = CustomerFactory(name="Beta Ventures")
        made = {
            "draft": make_invoice(db, acme, lines=[(desk, "1")], issue=False),
            "awaiting": make_invoice(db, acme, lines=[(desk, "1")]),  # INV-00001
            "paid": make_invoice(db, beta, lines=[(desk, "1")]),  # INV-00002
            "voided": make_invoice(db, beta, lines=[(desk, "1")]),  # INV-00003
        }
        record_payment(
            db, made["paid"], amount=made["paid"].total, paid_on=ISSUE_DATE, method="manual"
        )
        made["voided"].status = InvoiceStatus.VOIDED
        db.commit()
        return made

    def numbers(self, response) -> list[str]:
        assert response.status_code == 200
        return re.findall(r'<a href="/admin/invoices/\d+">(.*?)</a>', text(response))

    def test_paging(self, admin_client, invoices):
        """Newest first, two to a page, by "Older" and "Newer" links that name a row."""
        draft = f"Draft {invoices['draft'].id}"
        first = admin_client.get("/admin/invoices")
        assert self.numbers(first) == ["INV-00003", "INV-00002"]
        assert "Newer" not in text(first)
        older = f'href="/admin/invoices?before={invoices["paid"].id}"'
        assert older in first.get_data(as_text=True)
        second = admin_client.get(f"/admin/invoices?before={invoices['paid'].id}")
        assert self.numbers(second) == ["INV-00001", draft]
        assert "Older" not in text(second)
        newer = f'href="/admin/invoices?after={invoices["awaiting"].id}"'
        assert newer in second.get_data(as_text=True)
        again = admin_client.get(f"/admin/invoices?after={invoices['awaiting'].id}")
        assert self.numbers(again) == ["INV-00003", "INV-00002"]
        assert (
            self.numbers(admin_client.get(f"/admin/invoices?before={invoices['draft'].id}")) == []
        )
        for bad, status in (("0", 404), ("-1", 400), ("x", 400), (str(2**63), 404)):
            assert admin_client.get(f"/admin/invoices?before={bad}").status_code == status
            assert admin_client.get(f"/admin/invoices?after={bad}").status_code == status

    def test_paging_keeps_the_filters(self, admin_client, invoices):
        first = admin_client.get("/admin/invoices?status=awaiting_payment&q=INV")
        assert self.numbers(first) == ["INV-00001"]
        # The older page of a filtered list is of the same filter.
        more = admin_client.get(f"/admin/invoices?status=paid&before={invoices['voided'].id}")
        assert self.numbers(more) == ["INV-00002"]

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            ("draft", ["draft"]),
            ("awaiting_payment", ["INV-00001"]),
            ("paid", ["INV-00002"]),
            ("voided", ["INV-00003"]),
        ],
    )
    def test_status_filter(self, admin_client, invoices, status, expected):
        shown = self.numbers(admin_client.get(f"/admin/invoices?status={status}"))
        expected = [f"Draft {invoices['draft'].id}" if e == "draft" else e for e in expected]
        assert shown == expected

    def test_search_by_number_and_customer(self, admin_client, invoices):
        assert self.numbers(admin_client.get("/admin/invoices?q=00002")) == ["INV-00002"]
        by_customer = self.numbers(admin_client.get("/admin/invoices?q=beta"))
        assert sorted(by_customer) == ["INV-00002", "INV-00003"]
        assert self.numbers(admin_client.get("/admin/invoices?q=beta&status=paid")) == ["INV-00002"]
        assert "No invoices match." in text(admin_client.get("/admin/invoices?q=nobody"))

    @pytest.mark.parametrize(
        "query", ["status=deleted", "status=bogus", "customer_id=abc", "customer_id=-1"]
    )
    def test_bad_filters_are_400(self, admin_client, invoices, query):
        assert admin_client.get(f"/admin/invoices?{query}").status_code == 400


def test_markup_in_description_and_reference_is_escaped(db, admin_client, acme, desk):
    markup = "<script>alert(1)</script>"
    line = {**good_line(desk), "description": markup}
    response = admin_client.post_form(
        "/admin/invoices/new", invoice_form(acme, [line], reference=markup)
    )
    assert response.status_code == 302, text(response)
    invoice = the_invoice(db)
    assert (invoice.reference, invoice.lines[0].description) == (markup, markup)
    page = admin_client.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert markup not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
