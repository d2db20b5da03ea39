from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billing.invoices.model import Invoice, PaymentSource
from billing.payments.operations import record_payment
from billing.statements import admin_summary, money_received
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from xero.models import JobKind, SyncJob, TrialCleanup


def send_test_invoice(admin_client, db) -> Invoice:
    service = ServiceFactory(name="Meeting room")
    sent = admin_client.post_form("/admin/trial-run", {"service_id": service.id})
    assert sent.status_code == 302
    assert b"issued" in admin_client.get("/admin/trial-run").data  # the flash, shown once
    return db.scalars(select(Invoice).order_by(Invoice.id.desc())).first()


def test_send_a_test_invoice_then_start_the_clean_up(db, admin_client):
    page = admin_client.get("/admin/trial-run")
    assert page.status_code == 200 and b"Send a test invoice" in page.data
    invoice = send_test_invoice(admin_client, db)
    assert invoice.customer.is_test
    assert invoice.number == "TEST-00001"  # numbered apart from real invoices
    listing = admin_client.get("/admin/trial-run").get_data(as_text=True)
    assert invoice.number in listing
    assert listing.count('data-done="no"') == 5
    assert 'http-equiv="refresh"' in listing

    confirm = admin_client.get("/admin/trial-run/clean-up").get_data(as_text=True)
    assert "Clean up the test invoices?" in confirm and invoice.number in confirm
    assert "refunded in Stripe" in confirm and "voided in Xero" in confirm
    # Confirming needs the form's CSRF token.
    assert admin_client.post("/admin/trial-run/clean-up").status_code == 400
    assert db.scalar(select(TrialCleanup)) is None

    done = admin_client.post_form("/admin/trial-run/clean-up", follow_redirects=True)
    text = done.get_data(as_text=True)
    assert f"Clean-up started: {invoice.number}." in text
    db.refresh(invoice)
    assert invoice.status == "awaiting_payment"  # the worker voids it, after Xero
    cleanup = db.scalar(select(TrialCleanup))
    assert cleanup.invoice_id == invoice.id and cleanup.finished_at is None
    [job] = db.scalars(select(SyncJob).where(SyncJob.kind == JobKind.TRIAL_CLEANUP)).all()
    assert job.object_id == invoice.id
    assert "Clean-up: in progress" in text
    assert text.count("(pending)") == 4
    assert "Refund in Stripe: none needed, no card payment was taken" in text
    assert 'http-equiv="refresh"' in text
    assert "Clean up…" not in text  # nothing left to start

    again = admin_client.post_form("/admin/trial-run/clean-up", follow_redirects=True)
    assert b"Nothing to clean up" in again.data
    assert (
        db.scalar(select(SyncJob.id).where(SyncJob.id != job.id, SyncJob.kind == job.kind)) is None
    )


def test_a_card_payment_is_listed_for_refund_on_the_confirmation(db, admin_client):
    invoice = send_test_invoice(admin_client, db)
    record_payment(
        db,
        invoice,
        amount=invoice.total,
        paid_on=date.today(),
        method="card",
        source=PaymentSource.PORTAL,
        gateway_payment_id="pi_listed",
        gateway_charge_id="ch_listed",
    )
    confirm = admin_client.get("/admin/trial-run/clean-up").get_data(as_text=True)
    assert "1 card payment to refund in Stripe" in confirm


def test_test_invoices_stay_out_of_lists_and_totals(db, admin_client):
    real = make_invoice(db, CustomerFactory(name="Real Co"), [(ServiceFactory(), "1")])
    test = send_test_invoice(admin_client, db)
    for invoice in (real, test):
        record_payment(
            db,
            invoice,
            amount=Decimal("1.00"),
            paid_on=date.today(),
            method="card",
            reference=f"ref-{invoice.id}",
        )
    listing = admin_client.get("/admin/invoices").get_data(as_text=True)
    assert real.number in listing and test.number not in listing
    own = admin_client.get(f"/admin/customers/{test.customer_id}").get_data(as_text=True)
    assert test.number in own  # the test customer's own page still shows them

    [row] = admin_summary(db, date.today())
    assert row.awaiting == 1 and row.awaiting_due == real.amount_due
    [month] = [m for m in money_received(db, date.today())["GBP"] if m.amount]
    assert month.amount == Decimal("1.00")
    report = admin_client.get("/admin/reports/money-received")
    assert report.status_code == 200


def test_unknown_service_is_refused(db, admin_client):
    response = admin_client.post_form("/admin/trial-run", {"service_id": "999999"})
    assert response.status_code == 422
    assert db.query(Invoice).count() == 0


def test_without_a_xero_connection_the_page_says_the_clean_up_waits(db, admin_client):
    send_test_invoice(admin_client, db)
    text = admin_client.post_form("/admin/trial-run/clean-up", follow_redirects=True).get_data(
        as_text=True
    )
    assert "Waiting for the Xero connection" in text
