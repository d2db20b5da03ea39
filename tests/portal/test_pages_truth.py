"""Pages say what happened: no amount due on voided invoices, sync-log rows that name their
real object, attempt counts that include the attempt that worked, and a health panel that
does not report a job waiting for its invoice as a failing connection."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billing.invoices.operations import void_invoice
from billing.payments.operations import record_payment
from tests.factories import CustomerFactory, ServiceFactory, make_invoice
from tests.portal.test_xero_customers import (  # noqa: F401 - fixtures
    acme,
    app,
    app_settings,
    connected,
    xero_app,
)
from xero.admin import sync_log
from xero.models import JobKind, JobStatus, SyncJob, XeroConnection


def job_row(page: str, job_id: int) -> str:
    found = re.search(rf'<tr data-job-id="{job_id}">(.*?)</tr>', page, re.S)
    assert found, page
    return found[1]


# -- voided invoices --------------------------------------------------------------------------


def test_a_voided_invoice_shows_no_amount_due(db, admin_client):
    customer = CustomerFactory(name="Voided Co")
    invoice = make_invoice(db, customer, [(ServiceFactory(unit_price=Decimal("100")), "1")])
    void_invoice(db, invoice)
    db.commit()

    pages = {
        "admin list": admin_client.get("/admin/invoices?status=voided"),
        "admin detail": admin_client.get(f"/admin/invoices/{invoice.id}"),
        "customer page": admin_client.get(f"/admin/customers/{customer.id}"),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        page = response.get_data(as_text=True)
        assert "£120.00" in page, where  # the total is still shown
        assert "(voided)" in page, where
    detail = pages["admin detail"].get_data(as_text=True)
    due = re.search(r'data-testid="amount-due">(.*?)</th>', detail, re.S)
    assert due and "£" not in due[1]
    # The invoices list shows the total once, and no £120.00 in the Due column.
    listing = pages["admin list"].get_data(as_text=True)
    assert listing.count("£120.00") == 1


def test_a_member_sees_no_amount_due_on_a_voided_invoice(db, member, member_client):
    invoice = make_invoice(db, member.customer, [(ServiceFactory(unit_price=Decimal("100")), "1")])
    void_invoice(db, invoice)
    db.commit()
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    due = re.search(r'data-testid="amount-due">(.*?)</th>', page, re.S)
    assert due and "£" not in due[1] and "voided" in due[1]


# -- the sync log -----------------------------------------------------------------------------


def test_a_payment_job_is_named_by_its_reference_and_invoice(db, app, admin_client):  # noqa: F811
    invoice = make_invoice(db, CustomerFactory(name="Brightdesk Ltd"))
    payment = record_payment(
        db,
        invoice,
        amount=Decimal("10"),
        paid_on=date.today(),
        method="card",
        reference="ch_3Px7Abc",
    )
    db.commit()
    job = db.scalar(
        select(SyncJob).where(SyncJob.kind == JobKind.PAYMENT, SyncJob.object_id == payment.id)
    )
    assert job is not None
    row = job_row(admin_client.get("/admin/sync-log").get_data(as_text=True), job.id)
    assert f"Payment ch_3Px7Abc on Invoice {invoice.number}" in row
    assert "(deleted)" not in row and "Customer" not in row
    assert "Brightdesk Ltd" in row
    assert "Payment" in re.findall(r"<td>([^<]*)</td>", row)  # the kind has a label
    page = admin_client.get(f"/admin/sync-log/{job.id}").get_data(as_text=True)
    assert f"Payment ch_3Px7Abc on Invoice {invoice.number}" in page


def test_a_finished_job_counts_the_attempt_that_worked(
    admin_client,
    app,  # noqa: F811
    db,
    sandbox,
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    assert admin_client.post_form(f"/admin/customers/{acme.id}/xero/export").status_code == 302
    app.extensions["xero"].worker().drain()
    job = db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.CONTACT))
    assert job.status == JobStatus.DONE
    row = job_row(admin_client.get("/admin/sync-log").get_data(as_text=True), job.id)
    assert '<td class="num">1</td>' in row
    page = admin_client.get(f"/admin/sync-log/{job.id}").get_data(as_text=True)
    assert '<dd data-testid="attempts-made">1</dd>' in page


# -- the health panel -------------------------------------------------------------------------


def test_a_payment_waiting_for_its_invoice_is_not_a_connection_failure(
    admin_client,
    app,  # noqa: F811
    db,
    sandbox,
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    invoice = make_invoice(db, acme)
    invoice_job = db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.INVOICE))
    sync_log.ignore_job(db, invoice_job.id, None)  # the invoice does not reach Xero
    record_payment(
        db, invoice, amount=Decimal("10"), paid_on=date.today(), method="card", reference="ch_1"
    )
    db.commit()

    app.extensions["xero"].worker().drain()
    payment_job = db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.PAYMENT))
    assert payment_job.status == JobStatus.PENDING
    assert "Waiting for invoice" in payment_job.last_error
    db.expire_all()
    assert db.get(XeroConnection, connected.id).last_failure == ""

    page = admin_client.get("/admin/xero").get_data(as_text=True)
    failure = re.search(r'data-testid="last-failure">(.*?)</dd>', page, re.S)
    assert failure and "none" in failure[1] and "Waiting" not in failure[1]


def test_a_credit_waiting_for_its_contact_is_not_a_connection_failure(
    app,  # noqa: F811
    db,
    sandbox,  # noqa: F811
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    """It was told apart by an exception subclassing NotConnected: now the job says it
    waits (billing.jobs.WaitFor), which says nothing of the connection."""
    from billing.payments.overpayments import OverpaymentStatus, of_invoice
    from xero.sync.outbox import enqueue

    invoice = make_invoice(db, acme)
    invoice_job = db.scalar(select(SyncJob).where(SyncJob.kind == JobKind.INVOICE))
    sync_log.ignore_job(db, invoice_job.id, None)  # neither it nor its contact reach Xero
    for intent, charge in (("pi_first", "ch_first"), ("pi_second", "ch_second")):
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=date.today(),
            method="card",
            reference=charge,
            gateway_payment_id=intent,
            hold_overpayment=True,
        )
    [overpayment] = of_invoice(db, invoice.id)
    # Being credited in Xero (decide_credit queues this only for an invoice in Xero).
    overpayment.status = OverpaymentStatus.CREDITING
    job = enqueue(db, JobKind.OVERPAYMENT_CREDIT, overpayment.id)
    db.commit()

    app.extensions["xero"].worker().drain()
    db.expire_all()
    job = db.get(SyncJob, job.id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert "Waiting for Acme Studio Ltd to reach Xero" in job.last_error
    assert db.get(XeroConnection, connected.id).last_failure == ""


def test_a_credit_job_is_named_by_the_held_payment_and_invoice(db, app, admin_client):  # noqa: F811
    from billing.payments.overpayments import decide_credit, of_invoice
    from xero.sync.outbox import enqueue

    invoice = make_invoice(db, CustomerFactory(name="Twice Paid Ltd"))
    for intent, charge in (("pi_first", "ch_first"), ("pi_second", "ch_second")):
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=date.today(),
            method="card",
            reference=charge,
            gateway_payment_id=intent,
            hold_overpayment=True,
        )
    [overpayment] = of_invoice(db, invoice.id)
    decide_credit(db, overpayment.id, None)
    # The outbox queues the credit only for an invoice in Xero; this test is about the log.
    job = enqueue(db, JobKind.OVERPAYMENT_CREDIT, overpayment.id)
    db.commit()
    row = job_row(admin_client.get("/admin/sync-log").get_data(as_text=True), job.id)
    assert f"Overpayment by ch_second on Invoice {invoice.number}" in row
    assert "(deleted)" not in row and "Twice Paid Ltd" in row
    assert "Overpayment kept as credit" in row
