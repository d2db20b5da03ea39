"""The billing run from its page: a preview of a billing date that saves nothing, "Issue N
invoices" queuing the run for the worker (the app's own job runner carries it out), the
run's progress and result on the page, and dates and posts it refuses with nothing queued."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from billing.invoices.model import Invoice
from billing.recurring.model import BillingRun, Membership
from billing.recurring.periods import Cycle
from portal.auth.audit import AuditEntry
from portal.worker import job_runner
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory
from tests.portal.clocks import freeze
from tests.portal.pages import text

PAGE = "/admin/billing-run"
REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture
def month(app, db, monkeypatch):
    clock = freeze(app, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    # The worker's clock too: its daily run (06:00) has come and gone on this day.
    monkeypatch.setattr(app.extensions["xero"], "clock", clock)
    rate = TaxRateFactory(name="VAT 20% (run page)", rate_percent=Decimal("20"))
    desk = ServiceFactory(
        name="Resident desk", cycle=Cycle.MONTHLY, unit_price=Decimal("300"), tax_rate=rate
    )
    brightdesk = CustomerFactory(name="Brightdesk Studio")
    northwind = CustomerFactory(name="Northwind Apps", xero_contact_id=None)
    db.add(
        Membership(customer=brightdesk, service=desk, starts_on=date(2026, 11, 17), note="Desk 4")
    )
    db.add(Membership(customer=northwind, service=desk, starts_on=date(2026, 12, 1)))
    db.commit()
    return brightdesk, northwind


def invoices(db) -> int:
    return db.scalar(select(func.count()).select_from(Invoice))


def test_preview_issue_progress_and_result(app, db, admin_client, admin, month):
    brightdesk, northwind = month
    before = invoices(db)

    shown = admin_client.get(f"{PAGE}?date=2026-12-01")
    page = text(shown)
    assert shown.status_code == 200
    assert "2 invoices to issue, £888.00, tax included. Nothing has been saved yet." in page
    # 17 to 30 November, 14 of 30 days of 300 = 140.00, then December.
    assert "17 Nov 2026 to 30 Nov 2026 (14 of 30 days) - Desk 4: 1 × 140 = £140.00" in page
    assert "Resident desk, 1 Dec 2026 to 31 Dec 2026: 1 × 300 = £300.00" in page
    assert "No Xero contact yet" in page
    assert "Issue 2 invoices" in page and REFRESH not in page
    assert invoices(db) == before

    started = admin_client.post_form(PAGE, {"billing_date": "2026-12-01"})
    assert started.status_code == 302
    [run] = db.scalars(select(BillingRun)).all()
    assert urlsplit(started.headers["Location"]).query == f"run={run.id}"
    assert (run.started_by_id, run.total, run.status) == (admin.id, 2, "queued")
    assert db.scalar(
        select(AuditEntry).where(AuditEntry.action == "billing_run.started")
    ).detail.endswith(f"run {run.id}, 2026-12-01")
    queued = text(admin_client.get(f"{PAGE}?run={run.id}"))
    assert "Queued: 0 of 2 customers gone through, 0 invoices issued." in queued
    assert REFRESH in queued
    # While it is under way the preview offers no second run.
    again = text(admin_client.get(f"{PAGE}?date=2026-12-01"))
    assert "The run for 1 Dec 2026 is under way" in again and "Issue 2 invoices" not in again

    assert job_runner(app).billing.drain() == 1  # the worker's runner, as the app wires it

    done = text(admin_client.get(f"{PAGE}?run={run.id}"))
    assert "Done: 2 invoices issued; every customer due was billed." in done
    assert REFRESH not in done
    assert invoices(db) == before + 2
    issued = db.scalar(select(Invoice).where(Invoice.customer_id == brightdesk.id))
    assert issued.total == Decimal("528.00") and issued.issue_date == date(2026, 12, 1)
    # Run again: nothing is due any more, and nothing is queued.
    twice = admin_client.post_form(PAGE, {"billing_date": "2026-12-01"})
    assert twice.status_code == 422
    assert "Nothing is due by 01 Dec 2026: no invoices to issue." in text(twice)
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 1
    assert invoices(db) == before + 2


def test_a_customer_it_cannot_bill_is_listed_with_the_reason(app, db, admin_client, month):
    brightdesk, _ = month
    old = ServiceFactory(name="Old plan", cycle=Cycle.MONTHLY, active=False)
    db.add(Membership(customer=brightdesk, service=old, starts_on=date(2026, 12, 1)))
    db.commit()
    shown = text(admin_client.get(f"{PAGE}?date=2026-12-01"))
    assert "1 of these cannot be issued (an archived service, named above)" in shown
    assert "Issue 1 invoice" in shown and "Issue 2 invoices" not in shown
    started = admin_client.post_form(PAGE, {"billing_date": "2026-12-01"})
    assert started.status_code == 302
    job_runner(app).billing.drain()
    page = text(admin_client.get(started.headers["Location"]))
    assert "Done: 1 invoice issued; 1 customer not billed (below)." in page
    assert "Brightdesk Studio" in page
    assert "Old plan is archived, so this invoice cannot be issued" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=tomorrow", "'tomorrow' is not a date such as 2026-12-01."),
        ("date=2026-02-30", "'2026-02-30' is not a date such as 2026-12-01."),
        ("date=2027-01-02", "A billing run can be at most one period ahead: 01 Jan 2027"),
    ],
)
def test_a_preview_date_it_refuses(app, db, admin_client, month, query, message):
    response = admin_client.get(f"{PAGE}?{query}")
    assert response.status_code == 200
    assert message in text(response) and "Issue " not in text(response)


def test_a_nul_in_the_preview_date_is_a_bad_request(app, db, admin_client, month):
    assert admin_client.get(f"{PAGE}?date=2026-12-01%00").status_code == 400


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"billing_date": "2027-01-02"}, "at most one period ahead"),
        ({"billing_date": "12/01/2026"}, "Billing date: Not a valid date value."),
        ({"billing_date": ""}, "Billing date: "),
        ({}, "Billing date: "),
    ],
)
def test_a_run_it_refuses_queues_nothing(app, db, admin_client, month, data, message):
    response = admin_client.post_form(PAGE, data)
    assert response.status_code == 422 and message in text(response)
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 0


def test_a_post_without_the_csrf_token_is_refused(app, db, admin_client, month):
    response = admin_client.post(PAGE, data={"billing_date": "2026-12-01"})
    assert response.status_code == 400
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 0


@pytest.mark.parametrize("run_id", ["999999", str(2**63), "-1", "0"])
def test_an_unknown_run_is_not_found(app, db, admin_client, month, run_id):
    assert admin_client.get(f"{PAGE}?run={run_id}").status_code == 404


def test_the_apps_worker_bills_the_day_by_itself_at_the_billing_hour(app, db, month):
    clock = app.extensions["clock"]
    clock.at = datetime(2026, 12, 1, 5, 30, tzinfo=UTC)
    billing = job_runner(app).billing  # as the app wires its worker: BILLING_HOUR 6
    assert billing is not None and billing.due_at() == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert billing.run_once() == 0
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 0

    clock.at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert billing.drain() == 1

    [run] = db.scalars(select(BillingRun)).all()
    assert (run.scheduled_for, run.status, run.invoices) == (date(2026, 12, 1), "done", 2)


def test_with_the_daily_run_off_the_worker_leaves_billing_to_the_admin(app, db, month):
    app.config["BILLING_AUTOMATIC"] = False
    app.extensions["clock"].at = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    billing = job_runner(app).billing
    assert billing is not None and billing.due_at() is None
    assert billing.drain() == 0
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 0
