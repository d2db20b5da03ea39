"""A service's sales account and tax rate are checked against the connected organisation's
accounts and tax rates (as the Xero settings page last read them) when the service is saved
and before its invoice is issued; an issued invoice Xero refused for its account can be
corrected and sent again. Through the real pages, against the served sandbox."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from billing.invoices.model import Invoice, InvoiceLine
from billing.services import Service
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from tests.portal.pages import text
from tests.portal.test_xero_connection import (  # noqa: F401 - fixtures
    app_settings,
    xero_wiring,
)
from tests.portal.test_xero_settings import good_form, rates  # noqa: F401
from tests.portal.test_xero_settings_reach import connect_with
from xero.models import (
    AuditEntry,
    JobKind,
    JobStatus,
    LedgerSnapshot,
    SyncJob,
    XeroCall,
    XeroInvoiceLink,
)

SETTINGS = "/admin/xero/settings"


def service_form(rate, **changes) -> dict:
    return {
        "code": "DESK-HOT",
        "name": "Hot desk",
        "description": "",
        "unit_price": "24.95",
        "currency": "GBP",
        "sales_account_code": "200",
        "tax_rate_id": str(rate.id),
        **changes,
    }


def calls(db) -> int:
    return db.scalar(select(func.count(XeroCall.id)))


def settle(app, admin_client, db, admin, served, rates) -> None:  # noqa: F811
    """Connected, with the Xero settings saved (which lists the organisation's ledger)."""
    connect_with(app, db, admin, served, None)
    response = admin_client.post_form(SETTINGS, good_form(served, rates))
    assert response.status_code == 302, response.data


# -- saving a service -------------------------------------------------------------------------


def test_without_xero_any_account_is_saved_as_before(admin_client, db, rates):  # noqa: F811
    response = admin_client.post_form(
        "/admin/services/new", service_form(rates["standard"], sales_account_code="999")
    )
    assert response.status_code == 302, text(response)
    assert db.scalar(select(Service).where(Service.code == "DESK-HOT")) is not None


def test_an_account_xero_does_not_have_is_refused_without_calling_xero(
    app,
    admin_client,
    db,
    admin,
    sandbox,
    rates,  # noqa: F811
):
    settle(app, admin_client, db, admin, sandbox, rates)
    before = calls(db)
    response = admin_client.post_form(
        "/admin/services/new", service_form(rates["standard"], sales_account_code="999")
    )
    assert response.status_code == 422
    assert "Xero has no account with code &#39;999&#39;" in response.get_data(as_text=True)
    assert db.scalar(select(Service).where(Service.code == "DESK-HOT")) is None

    bank = admin_client.post_form(
        "/admin/services/new", service_form(rates["standard"], sales_account_code="090")
    )
    assert bank.status_code == 422
    assert "does not accept 090" in bank.get_data(as_text=True)
    assert calls(db) == before  # checked against the ledger the settings page read

    good = admin_client.post_form("/admin/services/new", service_form(rates["standard"]))
    assert good.status_code == 302, text(good)
    assert db.scalar(select(Service).where(Service.code == "DESK-HOT")).sales_account_code == "200"


def test_editing_a_service_to_a_bad_account_is_refused(
    app,
    admin_client,
    db,
    admin,
    sandbox,
    rates,  # noqa: F811
):
    settle(app, admin_client, db, admin, sandbox, rates)
    service = db.scalar(select(Service).where(Service.code == "SVC-STANDARD"))
    response = admin_client.post_form(
        f"/admin/services/{service.id}/edit",
        service_form(rates["standard"], code="SVC-STANDARD", sales_account_code="999"),
    )
    assert response.status_code == 422
    db.expire_all()
    assert db.get(Service, service.id).sales_account_code == "200"


def test_with_no_ledger_read_yet_xero_is_read_once_and_remembered(
    app,
    admin_client,
    db,
    admin,
    sandbox,
    rates,  # noqa: F811
):
    connect_with(app, db, admin, sandbox, None)
    assert db.scalar(select(LedgerSnapshot)) is None
    response = admin_client.post_form(
        "/admin/services/new", service_form(rates["standard"], sales_account_code="999")
    )
    assert response.status_code == 422
    assert "Xero has no account with code" in response.get_data(as_text=True)
    good = admin_client.post_form("/admin/services/new", service_form(rates["standard"]))
    assert good.status_code == 302, text(good)
    assert db.scalar(select(LedgerSnapshot)) is not None
    before = calls(db)
    again = admin_client.post_form(
        "/admin/services/new", service_form(rates["standard"], code="X2", sales_account_code="9")
    )
    assert again.status_code == 422
    assert calls(db) == before


# -- issuing ----------------------------------------------------------------------------------


def test_an_invoice_with_a_line_xero_would_refuse_is_not_issued(
    app,
    admin_client,
    db,
    admin,
    sandbox,
    rates,  # noqa: F811
):
    settle(app, admin_client, db, admin, sandbox, rates)
    # Saved before the portal checked accounts (or while Xero was not connected).
    bad = ServiceFactory(name="Old desk", sales_account_code="999", tax_rate=rates["standard"])
    good = db.scalar(select(Service).where(Service.code == "SVC-STANDARD"))
    draft = make_invoice(db, CustomerFactory(), [(good, "1"), (bad, "2")], issue=False)

    response = admin_client.post_form(f"/admin/invoices/{draft.id}/issue")
    assert response.status_code == 409
    page = text(response)
    assert "Not issued" in page
    assert "Line 2 (Old desk): Xero has no account with code '999'." in page
    assert "Line 1" not in page
    db.expire_all()
    invoice = db.get(Invoice, draft.id)
    assert (invoice.status, invoice.number) == ("draft", None)
    assert db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.INVOICE)) is None


# -- correcting an issued invoice --------------------------------------------------------------


def test_an_issued_invoice_refused_for_its_account_is_corrected_and_sent_again(
    app,
    admin_client,
    db,
    admin,
    sandbox,
    rates,  # noqa: F811
):
    settle(app, admin_client, db, admin, sandbox, rates)
    bad = ServiceFactory(
        name="Old desk",
        sales_account_code="999",
        tax_rate=rates["standard"],
        unit_price=Decimal("50"),
    )
    invoice = make_invoice(db, CustomerFactory(name="Brightdesk Ltd"), [(bad, "1")])
    app.extensions["xero"].worker().drain()
    job = db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.INVOICE))
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert "Account code '999' is not a valid code" in job.last_error

    page = admin_client.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert f"/admin/invoices/{invoice.id}/accounts" in page
    [line] = db.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    form = admin_client.get(f"/admin/invoices/{invoice.id}/accounts")
    assert form.status_code == 200 and 'value="999"' in form.get_data(as_text=True)

    url = f"/admin/invoices/{invoice.id}/accounts"
    refused = admin_client.post_form(url, {"line_id": str(line.id), "account_code": "998"})
    assert refused.status_code == 422
    assert "Xero has no account with code &#39;998&#39;" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(InvoiceLine, line.id).account_code == "999"

    response = admin_client.post_form(url, {"line_id": str(line.id), "account_code": "200"})
    assert response.status_code == 302, text(response)
    db.expire_all()
    assert db.get(InvoiceLine, line.id).account_code == "200"
    job = db.get(SyncJob, job.id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 0, "")
    assert db.scalar(select(AuditEntry).where(AuditEntry.action == "invoice.correct"))

    app.extensions["xero"].worker().drain()
    db.expire_all()
    assert db.get(SyncJob, job.id).status == JobStatus.DONE
    link = db.get(XeroInvoiceLink, invoice.id)
    assert link is not None and link.xero_invoice_id
    twin = sandbox.org.invoices[link.xero_invoice_id]
    assert [item.account_code for item in twin.line_items] == ["200"]
    assert db.get(Invoice, invoice.id).total == Decimal("60.00")  # money unchanged


def test_only_an_awaiting_payment_invoice_can_be_corrected(admin_client, db, rates):  # noqa: F811
    draft = make_invoice(db, CustomerFactory(), issue=False)
    response = admin_client.get(f"/admin/invoices/{draft.id}/accounts")
    assert response.status_code == 302
    [line] = draft.lines
    posted = admin_client.post_form(
        f"/admin/invoices/{draft.id}/accounts", {"line_id": str(line.id), "account_code": "260"}
    )
    assert posted.status_code == 302
    db.expire_all()
    assert db.get(InvoiceLine, line.id).account_code == "200"
