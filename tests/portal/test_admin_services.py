"""Admin pages for the service library and tax rates, driven through HTTP requests."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.services import Service, TaxRate
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory, make_invoice
from tests.portal.pages import count, field_errors, text

MARKUP = "<script>alert(1)</script>"


@pytest.fixture
def vat(db, admin_client):
    rate = TaxRateFactory(name="Standard", rate_percent=Decimal("20"))
    db.commit()  # a request answering 422 rolls back only what came after this point
    return rate


def service_form(vat, **changes) -> dict:
    return {
        "code": "DESK-HOT",
        "name": "Hot desk",
        "description": "A desk for a day",
        "unit_price": "24.95",
        "currency": "GBP",
        "sales_account_code": "200",
        "tax_rate_id": str(vat.id),
        **changes,
    }


# --- creating and editing -------------------------------------------------------------------


class TestConfigDefaults:
    @pytest.fixture
    def app_settings(self):
        return {"DEFAULT_CURRENCY": "EUR", "DEFAULT_SALES_ACCOUNT": "4010"}

    def test_new_service_form_prefills_currency_and_sales_account(self, admin_client, vat):
        response = admin_client.get("/admin/services/new")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert re.search(r'id="currency"[^>]*value="EUR"', page)
        assert re.search(r'id="sales_account_code"[^>]*value="4010"', page)


def test_create_service_stores_a_four_place_price_exactly(db, admin_client, vat):
    response = admin_client.post_form(
        "/admin/services/new", service_form(vat, unit_price="12.3456", currency="gbp")
    )
    assert response.status_code == 302, text(response)
    service = db.scalar(select(Service).where(Service.code == "DESK-HOT"))
    assert service.unit_price == Decimal("12.3456")
    assert service.currency == "GBP"
    assert service.name == "Hot desk"
    assert service.tax_rate_id == vat.id
    assert service.active
    listing = admin_client.get("/admin/services")
    assert "12.3456 GBP" in text(listing)


def test_edit_service_changes_it_and_shows_its_price_unpadded(db, admin_client, vat):
    service = ServiceFactory(code="ROOM", unit_price=Decimal("40.5000"), tax_rate=vat)
    db.commit()
    form = admin_client.get(f"/admin/services/{service.id}/edit")
    assert re.search(r'id="unit_price"[^>]*value="40.5"', form.get_data(as_text=True))
    response = admin_client.post_form(
        f"/admin/services/{service.id}/edit",
        service_form(vat, code="ROOM", name="Meeting room", unit_price="45"),
    )
    assert response.status_code == 302, text(response)
    db.expire_all()
    service = db.get(Service, service.id)
    assert (service.name, service.unit_price) == ("Meeting room", Decimal("45"))


def test_edit_service_without_the_price_field_is_refused_not_a_crash(db, admin_client, vat):
    service = ServiceFactory(code="ROOM", unit_price=Decimal("40"), tax_rate=vat)
    db.commit()
    data = service_form(vat, code="ROOM")
    del data["unit_price"]
    response = admin_client.post_form(f"/admin/services/{service.id}/edit", data)
    assert response.status_code == 422
    assert field_errors(response, "unit_price")


def test_service_code_must_be_unique(db, admin_client, vat):
    ServiceFactory(code="DESK-HOT", tax_rate=vat)
    db.commit()
    before = count(db, Service)
    response = admin_client.post_form("/admin/services/new", service_form(vat))
    assert response.status_code == 422
    assert "Service code DESK-HOT is already in use." in field_errors(response, "code")
    assert count(db, Service) == before


def test_editing_a_service_may_keep_its_own_code(db, admin_client, vat):
    service = ServiceFactory(code="DESK-HOT", tax_rate=vat)
    other = ServiceFactory(code="OTHER", tax_rate=vat)
    db.commit()
    ok = admin_client.post_form(f"/admin/services/{service.id}/edit", service_form(vat))
    assert ok.status_code == 302
    clash = admin_client.post_form(f"/admin/services/{other.id}/edit", service_form(vat))
    assert clash.status_code == 422
    db.expire_all()
    assert db.get(Service, other.id).code == "OTHER"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("code", "", "This field is required."),
        ("code", "   ", "This field is required."),
        ("code", "X" * 31, "Field cannot be longer than 30 characters."),
        ("code", "HOT DESK", "Use letters, digits, dot, dash or underscore."),
        ("code", "<b>X</b>", "Use letters, digits, dot, dash or underscore."),
        ("name", "", "This field is required."),
        ("name", "N" * 201, "Field cannot be longer than 200 characters."),
        ("description", "D" * 2001, "Field cannot be longer than 2000 characters."),
        ("unit_price", "", "This field is required."),
        ("unit_price", "   ", "This field is required."),
        ("unit_price", "ten", "Unit price must be a number."),
        ("unit_price", "-1", "Cannot be less than 0."),
        ("unit_price", "1.23456", "Unit price can have at most 4 decimal places."),
        ("unit_price", "1e3", "Unit price must be a number."),
        ("unit_price", "NaN", "Unit price must be a number."),
        ("unit_price", "Infinity", "Unit price must be a number."),
        ("unit_price", "1_000", "Unit price must be a number."),
        ("unit_price", "\uff11\uff12", "Unit price must be a number."),  # full-width digits
        ("unit_price", "1000000000.01", "Cannot be more than 1,000,000,000."),
        ("unit_price", "9" * 40, "That number is too long."),
        ("currency", "", "This field is required."),
        ("currency", "XX", "Use a three-letter ISO code such as GBP."),
        ("currency", "ABC", "ABC is not a known currency."),
        ("currency", "<b>", "Use a three-letter ISO code such as GBP."),
        ("sales_account_code", "", "This field is required."),
        ("sales_account_code", "1" * 11, "Field cannot be longer than 10 characters."),
        ("tax_rate_id", "999999", "Not a valid choice."),
        ("tax_rate_id", "abc", "Invalid Choice: could not coerce."),
        ("tax_rate_id", "", "This field is required."),
    ],
)
def test_bad_service_input_is_refused_next_to_the_field(
    db, admin_client, vat, field, value, message
):
    before = count(db, Service)
    response = admin_client.post_form("/admin/services/new", service_form(vat, **{field: value}))
    assert response.status_code == 422
    assert message in field_errors(response, field)
    assert count(db, Service) == before


def test_a_retired_tax_rate_is_not_offered_nor_accepted(db, admin_client, vat):
    retired = TaxRateFactory(name="Old rate", active=False)
    db.commit()
    form = admin_client.get("/admin/services/new")
    assert "Old rate" not in text(form)
    assert "Standard (20%)" in text(form)
    response = admin_client.post_form(
        "/admin/services/new", service_form(vat, tax_rate_id=str(retired.id))
    )
    assert response.status_code == 422
    assert "Not a valid choice." in field_errors(response, "tax_rate_id")
    assert count(db, Service) == 0


def test_markup_in_name_and_description_is_stored_as_text_and_escaped(db, admin_client, vat):
    response = admin_client.post_form(
        "/admin/services/new", service_form(vat, name=MARKUP, description=MARKUP)
    )
    assert response.status_code == 302
    service = db.scalar(select(Service).where(Service.code == "DESK-HOT"))
    assert service.name == MARKUP
    assert service.description == MARKUP
    page = admin_client.get("/admin/services").get_data(as_text=True)
    assert MARKUP not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2


def test_new_service_needs_the_csrf_token(db, admin_client, vat):
    response = admin_client.post("/admin/services/new", data=service_form(vat))
    assert response.status_code == 400
    assert count(db, Service) == 0


# --- listing, search, archive -----------------------------------------------------------------


def test_search_by_code_or_name(db, admin_client, vat):
    ServiceFactory(code="DESK-HOT", name="Hot desk", tax_rate=vat)
    ServiceFactory(code="ROOM-A", name="Meeting room A", tax_rate=vat)
    db.commit()
    by_code = text(admin_client.get("/admin/services?q=desk-h"))
    assert "Hot desk" in by_code and "Meeting room A" not in by_code
    by_name = text(admin_client.get("/admin/services?q=meeting"))
    assert "Meeting room A" in by_name and "Hot desk" not in by_name
    nothing = text(admin_client.get("/admin/services?q=zzz"))
    assert "No services match “zzz”." in nothing


def test_archive_hides_a_service_from_the_list_and_the_invoice_form(db, admin_client, vat):
    service = ServiceFactory(code="DESK-HOT", name="Hot desk", tax_rate=vat)
    db.commit()
    response = admin_client.post_form(f"/admin/services/{service.id}/archive")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Service, service.id).active is False
    assert "Hot desk" not in text(admin_client.get("/admin/services"))
    assert "Hot desk" in text(admin_client.get("/admin/services?archived=1"))
    assert "DESK-HOT - Hot desk" not in text(admin_client.get("/admin/invoices/new"))

    response = admin_client.post_form(f"/admin/services/{service.id}/restore")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Service, service.id).active is True
    assert "Hot desk" in text(admin_client.get("/admin/services"))
    assert "DESK-HOT - Hot desk" in text(admin_client.get("/admin/invoices/new"))


def test_archive_without_csrf_token_changes_nothing(db, admin_client, vat):
    service_id = ServiceFactory(tax_rate=vat).id
    db.commit()
    response = admin_client.post(f"/admin/services/{service_id}/archive")
    assert response.status_code == 400
    assert db.get(Service, service_id).active is True


def test_unknown_service_pages_are_404(admin_client, vat):
    assert admin_client.get("/admin/services/999999/edit").status_code == 404
    assert admin_client.post_form("/admin/services/999999/archive").status_code == 404
    assert admin_client.get("/admin/services/999999/delete").status_code == 404


def test_delete_a_never_invoiced_service_after_confirmation(db, admin_client, vat):
    service = ServiceFactory(code="GONE", tax_rate=vat)
    db.commit()
    confirm = admin_client.get(f"/admin/services/{service.id}/delete")
    assert confirm.status_code == 200
    assert "Delete service GONE?" in text(confirm)
    assert db.get(Service, service.id) is not None
    response = admin_client.post_form(f"/admin/services/{service.id}/delete")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Service, service.id) is None


def test_an_invoiced_service_cannot_be_deleted(db, admin_client, vat):
    service = ServiceFactory(code="USED", tax_rate=vat)
    make_invoice(db, CustomerFactory(), lines=[(service, "1")], issue=False)
    db.commit()
    response = admin_client.post_form(f"/admin/services/{service.id}/delete", follow_redirects=True)
    assert "This service is on invoices, so it can only be archived." in text(response)
    db.expire_all()
    assert db.get(Service, service.id) is not None


@pytest.mark.parametrize("used_by", ["membership", "pending charge"])
def test_a_service_a_membership_or_a_charge_names_cannot_be_deleted(db, admin_client, vat, used_by):
    from datetime import date

    from billing.recurring.model import Membership, PendingCharge
    from billing.recurring.periods import Cycle

    service = ServiceFactory(code="NAMED", tax_rate=vat)
    customer = CustomerFactory()
    if used_by == "membership":
        service.cycle = Cycle.MONTHLY
        db.add(Membership(customer=customer, service=service, starts_on=date(2026, 12, 1)))
        message = "Customers have memberships of this plan, so it can only be archived."
    else:
        db.add(PendingCharge(customer=customer, service=service, charged_on=date(2026, 12, 1)))
        message = "Charges for this service are pending, so it can only be archived."
    db.commit()
    response = admin_client.post_form(f"/admin/services/{service.id}/delete", follow_redirects=True)
    assert message in text(response)
    db.expire_all()
    assert db.get(Service, service.id) is not None


# --- tax rates --------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["20", "12.5"])
def test_add_a_tax_rate(db, admin_client, rate):
    response = admin_client.post_form("/admin/tax-rates", {"name": "VAT", "rate_percent": rate})
    assert response.status_code == 302, text(response)
    stored = db.scalar(select(TaxRate).where(TaxRate.name == "VAT"))
    assert stored.rate_percent == Decimal(rate)
    assert stored.active
    assert f"{rate}%" in text(admin_client.get("/admin/tax-rates")).replace("12.50", "12.5")


def test_duplicate_tax_rate_name_is_refused(db, admin_client, vat):
    before = count(db, TaxRate)
    response = admin_client.post_form("/admin/tax-rates", {"name": "Standard", "rate_percent": "5"})
    assert response.status_code == 422
    assert "A tax rate called Standard already exists." in field_errors(response, "name")
    assert count(db, TaxRate) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required."),
        ("name", "N" * 101, "Field cannot be longer than 100 characters."),
        ("rate_percent", "", "This field is required."),
        ("rate_percent", " ", "This field is required."),
        ("rate_percent", "-0.5", "Cannot be less than 0."),
        ("rate_percent", "100.01", "Cannot be more than 100."),
        ("rate_percent", "12.34567", "Rate (%) can have at most 4 decimal places."),
        ("rate_percent", "twenty", "Rate (%) must be a number."),
        ("rate_percent", "2e1", "Rate (%) must be a number."),
    ],
)
def test_bad_tax_rate_is_refused(db, admin_client, field, value, message):
    data = {"name": "Reduced", "rate_percent": "5", field: value}
    response = admin_client.post_form("/admin/tax-rates", data)
    assert response.status_code == 422
    assert message in field_errors(response, field)
    assert count(db, TaxRate) == 0


def test_retire_and_reactivate_a_tax_rate(db, admin_client, vat):
    response = admin_client.post_form(f"/admin/tax-rates/{vat.id}/toggle")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(TaxRate, vat.id).active is False
    assert "Standard (20%)" not in text(admin_client.get("/admin/services/new"))
    refused = admin_client.post_form("/admin/services/new", service_form(vat))
    assert refused.status_code == 422
    assert count(db, Service) == 0

    admin_client.post_form(f"/admin/tax-rates/{vat.id}/toggle")
    db.expire_all()
    assert db.get(TaxRate, vat.id).active is True
    assert admin_client.post_form("/admin/services/new", service_form(vat)).status_code == 302


def test_markup_in_tax_rate_name_is_escaped(db, admin_client):
    admin_client.post_form("/admin/tax-rates", {"name": MARKUP, "rate_percent": "5"})
    page = admin_client.get("/admin/tax-rates").get_data(as_text=True)
    assert db.scalar(select(TaxRate.name)) == MARKUP
    assert MARKUP not in page and "&lt;script&gt;" in page


# --- plans ----------------------------------------------------------------------------------


def test_a_service_becomes_a_monthly_plan_with_its_terms(db, admin_client, vat):
    response = admin_client.post_form(
        "/admin/services/new",
        service_form(
            vat,
            cycle="monthly",
            timing="arrears",
            prorate_start="none",
            prorate_end="by_day",
            minimum_term_periods="3",
            notice_days="30",
        ),
    )
    assert response.status_code == 302, text(response)
    plan = db.scalar(select(Service).where(Service.code == "DESK-HOT"))
    assert (
        plan.cycle,
        plan.timing,
        plan.prorate_start,
        plan.prorate_end,
        plan.minimum_term_periods,
        plan.notice_days,
    ) == ("monthly", "arrears", "none", "by_day", 3, 30)
    assert plan.is_plan
    # The edit form shows it as it is.
    page = admin_client.get(f"/admin/services/{plan.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="monthly">|<option value="monthly" selected', page)


def test_a_service_left_one_off_is_no_plan(db, admin_client, vat):
    response = admin_client.post_form("/admin/services/new", service_form(vat))
    assert response.status_code == 302, text(response)
    service = db.scalar(select(Service).where(Service.code == "DESK-HOT"))
    assert service.cycle is None and not service.is_plan


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cycle": "daily"}, "cycle", "Not a valid choice"),
        (
            {"cycle": "monthly", "minimum_term_periods": "-1"},
            "minimum_term_periods",
            "Number must be between 0 and 120",
        ),
        ({"cycle": "monthly", "notice_days": "9" * 30}, "notice_days", "between 0 and 366"),
        ({"cycle": "monthly", "timing": "whenever"}, "timing", "Not a valid choice"),
    ],
)
def test_bad_plan_terms_are_refused_and_nothing_saved(
    db, admin_client, vat, changes, field, message
):
    response = admin_client.post_form("/admin/services/new", service_form(vat, **changes))
    assert response.status_code == 422
    assert message in " ".join(field_errors(response, field))
    assert db.scalar(select(Service).where(Service.code == "DESK-HOT")) is None


def test_a_free_plan_is_refused_its_memberships_would_invoice_nothing(db, admin_client, vat):
    data = service_form(vat, cycle="monthly", unit_price="0")
    response = admin_client.post_form("/admin/services/new", data)
    assert response.status_code == 422
    assert "A plan's price must be above 0." in text(response)
    assert db.scalar(select(Service).where(Service.code == "DESK-HOT")) is None


def test_a_plan_with_memberships_keeps_its_cycle(db, admin_client, vat):
    from datetime import date

    from billing.recurring.model import Membership

    plan = ServiceFactory(code="DESK-RES", cycle="monthly", tax_rate=vat)
    db.add(Membership(customer=CustomerFactory(), service=plan, starts_on=date(2026, 11, 1)))
    db.commit()
    response = admin_client.post_form(
        f"/admin/services/{plan.id}/edit", service_form(vat, code="DESK-RES", cycle="")
    )
    assert response.status_code == 422
    assert "cannot change" in text(response)
    db.expire_all()
    assert db.get(Service, plan.id).cycle == "monthly"
