"""The Xero sync log, Retry and Ignore, and the Xero panels of the admin home, invoice and
customer pages, driven through HTTP requests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from billing.db import utcnow
from tests.conftest import login
from tests.factories import CustomerFactory, make_invoice
from tests.portal.pages import text
from xero.admin import sync_log
from xero.models import (
    AuditEntry,
    JobKind,
    JobStatus,
    SyncAttempt,
    SyncJob,
    XeroInvoiceLink,
)

MARKUP = "<script>alert(1)</script>"


def make_job(
    db,
    kind: JobKind,
    object_id: int,
    status: JobStatus = JobStatus.PENDING,
    *,
    attempts: int = 0,
    last_error: str = "",
    outcome_unknown: bool = False,
    key: str | None = None,
) -> SyncJob:
    job = SyncJob(
        kind=kind,
        object_id=object_id,
        status=status,
        attempts=attempts,
        last_error=last_error,
        outcome_unknown=outcome_unknown,
        idempotency_key=key or uuid.uuid4().hex,
        next_attempt_at=utcnow() + timedelta(hours=1),
    )
    db.add(job)
    db.flush()
    return job


def audit_entries(db, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def invoice(db, app):
    # ``app`` first: creating it subscribes the outbox, so issuing queues an INVOICE job.
    return make_invoice(db, CustomerFactory(name="Acme Studio Ltd"))


@pytest.fixture
def stopped(db, invoice):
    """An invoice job that needs attention, with Xero's message and two attempts."""
    job = make_job(
        db,
        JobKind.INVOICE,
        invoice.id,
        JobStatus.NEEDS_ATTENTION,
        attempts=2,
        last_error="Account code '999' is not a valid code for this document.",
        key="original-key",
    )
    db.add(SyncAttempt(job=job, outcome="retry", message="Xero answered 503"))
    db.add(SyncAttempt(job=job, outcome="failed", message=job.last_error))
    db.commit()
    return job


# --- who may see it ----------------------------------------------------------------------------


def job_urls(job_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/admin/sync-log"),
        ("GET", f"/admin/sync-log/{job_id}"),
        ("POST", f"/admin/sync-log/{job_id}/retry"),
        ("GET", f"/admin/sync-log/{job_id}/ignore"),
        ("POST", f"/admin/sync-log/{job_id}/ignore"),
    ]


def send(client, method: str, url: str):
    return client.get(url) if method == "GET" else client.post_form(url)


def test_anonymous_is_sent_to_sign_in(client, stopped, db):
    for method, url in job_urls(stopped.id):
        response = send(client, method, url)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login"), (method, url)
    assert db.get(SyncJob, stopped.id).status == JobStatus.NEEDS_ATTENTION


def test_member_is_refused(member_client, stopped, db):
    for method, url in job_urls(stopped.id):
        assert send(member_client, method, url).status_code == 403, (method, url)
    assert db.get(SyncJob, stopped.id).status == JobStatus.NEEDS_ATTENTION
    assert not audit_entries(db, "sync_job.retry") and not audit_entries(db, "sync_job.ignore")


def test_unknown_job_is_404(admin_client):
    for method, url in job_urls(999_999)[1:]:
        assert send(admin_client, method, url).status_code == 404, (method, url)


def test_posts_need_the_csrf_token(admin_client, stopped, db):
    for url in (f"/admin/sync-log/{stopped.id}/retry", f"/admin/sync-log/{stopped.id}/ignore"):
        response = admin_client.post(url, data={})
        assert response.status_code == 400
        assert "Form expired" in text(response)
    db.expire_all()
    job = db.get(SyncJob, stopped.id)
    assert job.status == JobStatus.NEEDS_ATTENTION and job.attempts == 2


def test_nav_links_to_the_sync_log(admin_client):
    assert 'href="/admin/sync-log"' in admin_client.get("/admin/").get_data(as_text=True)


# --- the list ----------------------------------------------------------------------------------


def test_log_shows_each_job_with_its_object(admin_client, db, invoice, stopped):
    customer = CustomerFactory(name="Borealis Labs")
    contact_job = make_job(db, JobKind.CONTACT, customer.id, attempts=1, last_error="Xero 503")
    response = admin_client.get("/admin/sync-log")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'href="/admin/invoices/{invoice.id}"' in page
    assert f"Invoice {invoice.number}" in page
    assert f'href="/admin/customers/{customer.id}"' in page
    assert "Borealis Labs" in page
    assert f'href="/admin/sync-log/{stopped.id}"' in page
    assert "Account code '999' is not a valid code" in text(response)
    assert "Needs attention" in page and "Failing" in page
    row = page[page.index(f'data-job-id="{contact_job.id}"') :]
    assert "Contact" in row[:600] and "UTC" in row[:600]


def test_markup_in_errors_and_names_is_escaped(admin_client, db):
    customer = CustomerFactory(name=f"Evil {MARKUP} Ltd")
    job = make_job(
        db, JobKind.CONTACT, customer.id, JobStatus.NEEDS_ATTENTION, last_error=MARKUP, attempts=1
    )
    db.add(SyncAttempt(job=job, outcome="failed", message=MARKUP))
    for url in ("/admin/sync-log", f"/admin/sync-log/{job.id}", f"/admin/customers/{customer.id}"):
        page = admin_client.get(url).get_data(as_text=True)
        assert MARKUP not in page, url
        assert "&lt;script&gt;" in page, url


def test_job_of_a_deleted_object_is_still_listed(admin_client, db):
    make_job(db, JobKind.INVOICE, 987_654, JobStatus.NEEDS_ATTENTION, attempts=1)
    assert "Invoice 987654 (deleted)" in text(admin_client.get("/admin/sync-log"))


@pytest.fixture
def one_of_each(db, invoice):
    db.execute(SyncJob.__table__.delete())  # the job issuing queued
    return {
        "waiting": make_job(db, JobKind.INVOICE, invoice.id),
        "failing": make_job(db, JobKind.INVOICE, invoice.id, attempts=2, last_error="503"),
        "rate_limited": make_job(db, JobKind.VOID_INVOICE, invoice.id, last_error="429"),
        "attention": make_job(db, JobKind.INVOICE, invoice.id, JobStatus.NEEDS_ATTENTION),
        "done": make_job(db, JobKind.ONLINE_INVOICE, invoice.id, JobStatus.DONE, attempts=1),
        "ignored": make_job(db, JobKind.INVOICE, invoice.id, JobStatus.IGNORED, attempts=8),
    }


def listed(response) -> set[int]:
    page = response.get_data(as_text=True)
    ids = set()
    for chunk in page.split('data-job-id="')[1:]:
        ids.add(int(chunk.split('"', 1)[0]))
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"waiting", "failing", "rate_limited", "attention", "done", "ignored"}),
        ("?filter=all", {"waiting", "failing", "rate_limited", "attention", "done", "ignored"}),
        ("?filter=failing", {"failing", "rate_limited"}),
        ("?filter=attention", {"attention"}),
        ("?filter=done", {"done"}),
        ("?filter=ignored", {"ignored"}),
    ],
)
def test_filters(admin_client, one_of_each, query, expected):
    response = admin_client.get(f"/admin/sync-log{query}")
    assert response.status_code == 200
    assert listed(response) == {one_of_each[name].id for name in expected}


def test_unknown_filter_or_page_is_refused(admin_client):
    assert admin_client.get("/admin/sync-log?filter=everything").status_code == 400
    assert admin_client.get("/admin/sync-log?before=0").status_code == 404
    assert admin_client.get(f"/admin/sync-log?after={2**63}").status_code == 404
    assert admin_client.get("/admin/sync-log?before=x").status_code == 400


@pytest.fixture
def many_jobs(db, app):
    db.execute(SyncJob.__table__.delete())
    invoices = [make_invoice(db, CustomerFactory()) for _ in range(3)]
    db.execute(SyncJob.__table__.delete())
    customers = [CustomerFactory() for _ in range(3)]
    jobs = []
    for n in range(30):
        if n % 2:
            jobs.append(make_job(db, JobKind.INVOICE, invoices[n % 3].id, attempts=1))
        else:
            jobs.append(make_job(db, JobKind.CONTACT, customers[n % 3].id, attempts=1))
    return jobs


def test_pages_newest_first(admin_client, app, many_jobs):
    per_page = app.config["PAGE_SIZE"]
    first = admin_client.get("/admin/sync-log?filter=failing")
    newest = sorted((j.id for j in many_jobs), reverse=True)
    assert listed(first) == set(newest[:per_page])
    last_shown, first_of_second = newest[per_page - 1], newest[per_page]
    html = first.get_data(as_text=True)
    assert f'href="/admin/sync-log?before={last_shown}&amp;filter=failing"' in html
    assert "Newer" not in text(first)
    second = admin_client.get(f"/admin/sync-log?before={last_shown}&filter=failing")
    assert listed(second) == set(newest[per_page:])
    assert "Older" not in text(second)
    back = f'href="/admin/sync-log?after={first_of_second}&amp;filter=failing"'
    assert back in second.get_data(as_text=True)
    again = admin_client.get(f"/admin/sync-log?after={first_of_second}&filter=failing")
    assert listed(again) == set(newest[:per_page])
    beyond = admin_client.get(f"/admin/sync-log?before={newest[-1]}&filter=failing")
    assert beyond.status_code == 200 and listed(beyond) == set()


def test_a_page_is_one_query(db, many_jobs):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        page = sync_log.job_page(db, sync_log.LogFilter.ALL, per_page=25)
        labels = [row.object_label for row in page.items]
        first_page_statements = len(statements)
        older = sync_log.job_page(db, sync_log.LogFilter.ALL, before=page.older, per_page=25)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert first_page_statements == 1, statements
    # A later page also asks whether there is anything newer (one EXISTS), nothing more.
    assert len(statements) == 3, statements
    assert len(labels) == 25 and page.older is not None and page.newer is None
    assert len(older.items) == 5 and older.newer == older.items[0].job.id and older.older is None
    assert all(label.startswith(("Invoice INV-", "Company ")) for label in labels)


# --- one job ---------------------------------------------------------------------------------


def test_job_page_lists_every_attempt(admin_client, stopped, invoice):
    response = admin_client.get(f"/admin/sync-log/{stopped.id}")
    assert response.status_code == 200
    page = text(response)
    attempts = page[page.index('data-testid="attempts"') :]
    assert "Xero answered 503" in attempts
    assert "Account code '999' is not a valid code" in attempts
    assert attempts.index("retry") < attempts.index("failed")
    assert f"Invoice {invoice.number}" in page
    assert f'action="/admin/sync-log/{stopped.id}/retry"' in page
    assert f'href="/admin/sync-log/{stopped.id}/ignore"' in page


def test_done_job_offers_neither_button(admin_client, db, invoice):
    job = make_job(db, JobKind.INVOICE, invoice.id, JobStatus.DONE, attempts=1)
    page = admin_client.get(f"/admin/sync-log/{job.id}").get_data(as_text=True)
    assert "/retry" not in page and "/ignore" not in page


# --- retry -------------------------------------------------------------------------------------


def test_retry_of_a_known_failure_gets_a_new_key(admin_client, db, admin, stopped):
    before = datetime.now(UTC)
    response = admin_client.post_form(f"/admin/sync-log/{stopped.id}/retry")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/sync-log/{stopped.id}")
    db.expire_all()
    job = db.get(SyncJob, stopped.id)
    assert job.status == JobStatus.PENDING
    assert job.attempts == 0
    assert job.last_error == ""
    assert before - timedelta(seconds=5) <= job.next_attempt_at <= datetime.now(UTC)
    assert job.idempotency_key != "original-key"
    assert len(job.attempts_log) == 2  # the history stays
    [entry] = audit_entries(db, "sync_job.retry")
    assert entry.user_id == admin.id
    assert f"sync job {job.id}" in entry.subject
    assert "needs_attention -> pending" in entry.detail and "new idempotency key" in entry.detail
    assert "queued again" in text(admin_client.get(f"/admin/sync-log/{job.id}"))


def test_retry_after_an_unknown_outcome_keeps_the_key(admin_client, db, invoice):
    job = make_job(
        db,
        JobKind.INVOICE,
        invoice.id,
        JobStatus.NEEDS_ATTENTION,
        attempts=8,
        outcome_unknown=True,
        key="maybe-written",
    )
    db.commit()
    admin_client.post_form(f"/admin/sync-log/{job.id}/retry")
    db.expire_all()
    job = db.get(SyncJob, job.id)
    assert job.status == JobStatus.PENDING and job.attempts == 0
    assert job.idempotency_key == "maybe-written"
    assert job.outcome_unknown  # the worker still looks the invoice up before writing
    [entry] = audit_entries(db, "sync_job.retry")
    assert "kept" in entry.detail


def test_an_ignored_job_can_be_retried(admin_client, db, invoice):
    job = make_job(db, JobKind.INVOICE, invoice.id, JobStatus.IGNORED, attempts=3)
    db.commit()
    admin_client.post_form(f"/admin/sync-log/{job.id}/retry")
    db.expire_all()
    assert db.get(SyncJob, job.id).status == JobStatus.PENDING


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DONE])
def test_retry_is_refused_for_other_states(admin_client, db, invoice, status):
    job = make_job(db, JobKind.INVOICE, invoice.id, status, attempts=1, key="k")
    db.commit()
    response = admin_client.post_form(f"/admin/sync-log/{job.id}/retry", follow_redirects=True)
    assert "Only a job that needs attention or was ignored can be retried" in text(response)
    db.expire_all()
    job = db.get(SyncJob, job.id)
    assert job.status == status and job.attempts == 1 and job.idempotency_key == "k"
    assert not audit_entries(db, "sync_job.retry")


# --- ignore ------------------------------------------------------------------------------------


def test_ignore_asks_first(admin_client, db, stopped, invoice):
    response = admin_client.get(f"/admin/sync-log/{stopped.id}/ignore")
    assert response.status_code == 200
    page = text(response)
    assert f"Ignore sync job {stopped.id}?" in page
    assert f"Invoice for Invoice {invoice.number}" in page
    assert f'action="/admin/sync-log/{stopped.id}/ignore"' in page
    db.expire_all()
    assert db.get(SyncJob, stopped.id).status == JobStatus.NEEDS_ATTENTION


def test_ignore(admin_client, db, admin, stopped):
    response = admin_client.post_form(f"/admin/sync-log/{stopped.id}/ignore")
    assert response.status_code == 302
    db.expire_all()
    job = db.get(SyncJob, stopped.id)
    assert job.status == JobStatus.IGNORED
    assert job.attempts == 2 and job.idempotency_key == "original-key"
    [entry] = audit_entries(db, "sync_job.ignore")
    assert entry.user_id == admin.id
    assert "needs_attention -> ignored" in entry.detail
    assert "Account code '999'" in entry.detail
    assert "is ignored" in text(admin_client.get(f"/admin/sync-log/{job.id}"))


def test_a_pending_failing_job_can_be_ignored(admin_client, db, invoice):
    job = make_job(db, JobKind.INVOICE, invoice.id, attempts=3, last_error="503")
    db.commit()
    admin_client.post_form(f"/admin/sync-log/{job.id}/ignore")
    db.expire_all()
    assert db.get(SyncJob, job.id).status == JobStatus.IGNORED


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.DONE, JobStatus.IGNORED])
def test_ignore_is_refused_for_other_states(admin_client, db, invoice, status):
    job = make_job(db, JobKind.INVOICE, invoice.id, status)
    db.commit()
    get = admin_client.get(f"/admin/sync-log/{job.id}/ignore")
    assert get.status_code == 302 and get.headers["Location"].endswith(f"/sync-log/{job.id}")
    response = admin_client.post_form(f"/admin/sync-log/{job.id}/ignore", follow_redirects=True)
    assert "can be ignored" in text(response)
    db.expire_all()
    assert db.get(SyncJob, job.id).status == status
    assert not audit_entries(db, "sync_job.ignore")


# --- the admin home page -----------------------------------------------------------------------


def test_home_counts_failing_and_stopped_jobs(admin_client, one_of_each):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="sync-attention">1<' in page
    assert 'data-testid="sync-failing">2<' in page
    assert 'href="/admin/sync-log?filter=attention"' in page
    assert 'href="/admin/sync-log?filter=failing"' in page


def test_home_says_nothing_is_failing(admin_client, db):
    db.execute(SyncJob.__table__.delete())
    page = text(admin_client.get("/admin/"))
    assert "Xero sync: nothing failing." in page


# --- the invoice page's Xero panel -------------------------------------------------------------


def panel(response) -> str:
    page = text(response)
    start = page.index('data-testid="xero-panel"')
    return page[start : page.index("</div>\n", start)]


def test_invoice_panel_draft_not_sent(admin_client, db, app):
    draft = make_invoice(db, CustomerFactory(), issue=False)
    shown = panel(admin_client.get(f"/admin/invoices/{draft.id}"))
    assert "Not sent to Xero yet." in shown
    assert "when they are issued" in shown


def test_invoice_panel_queued(admin_client, db, invoice):
    [job] = db.scalars(select(SyncJob).where(SyncJob.object_id == invoice.id))
    shown = panel(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert "Queued: it will be sent to Xero shortly" in shown
    assert f"/admin/sync-log/{job.id}" in shown


def test_invoice_panel_in_xero(admin_client, db, invoice):
    db.execute(
        SyncJob.__table__.update()
        .values(status=JobStatus.DONE)
        .where(SyncJob.object_id == invoice.id)
    )
    xero_id = str(uuid.uuid4())
    db.add(
        XeroInvoiceLink(
            invoice_id=invoice.id,
            xero_invoice_id=xero_id,
            xero_status="AUTHORISED",
            online_invoice_url="https://in.xero.com/abc123",
            synced_at=utcnow(),
        )
    )
    db.flush()
    shown = panel(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert "In Xero as" in shown and "AUTHORISED" in shown
    assert xero_id in shown
    assert 'href="https://in.xero.com/abc123"' in shown
    assert "Queued" not in shown and "Not sent" not in shown


def test_invoice_panel_never_links_a_script_url(admin_client, db, invoice):
    db.add(
        XeroInvoiceLink(
            invoice_id=invoice.id,
            xero_invoice_id=str(uuid.uuid4()),
            xero_status="AUTHORISED",
            online_invoice_url="javascript:alert(1)",
        )
    )
    db.flush()
    shown = panel(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert "javascript:" not in shown and "Not fetched yet" in shown


def test_invoice_panel_error_links_to_the_job(admin_client, db, invoice, stopped):
    shown = panel(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert "Needs attention" in shown
    assert "Account code '999' is not a valid code" in shown
    assert f'href="/admin/sync-log/{stopped.id}"' in shown


def test_invoice_panel_failing_but_retrying(admin_client, db, invoice):
    db.execute(SyncJob.__table__.delete())
    job = make_job(db, JobKind.INVOICE, invoice.id, attempts=1, last_error="Xero answered 503")
    shown = panel(admin_client.get(f"/admin/invoices/{invoice.id}"))
    assert "Failing, retrying" in shown and "Xero answered 503" in shown
    assert f"/admin/sync-log/{job.id}" in shown


# --- the customer page's Xero panel ------------------------------------------------------------


def test_customer_panel_offers_export_until_linked(admin_client, db):
    customer = CustomerFactory()
    page = admin_client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "not linked to a Xero contact yet" in page
    assert f'action="/admin/customers/{customer.id}/xero/export"' in page
    assert f'href="/admin/customers/{customer.id}/xero"' in page

    response = admin_client.post_form(f"/admin/customers/{customer.id}/xero/export")
    assert response.status_code == 302
    [job] = db.scalars(
        select(SyncJob).where(SyncJob.kind == JobKind.CONTACT, SyncJob.object_id == customer.id)
    )
    assert job.status == JobStatus.PENDING
    page = admin_client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert f'href="/admin/sync-log/{job.id}"' in page
    assert "/xero/export" not in page  # queued already

    # A second press while the job waits adds nothing.
    admin_client.post_form(f"/admin/customers/{customer.id}/xero/export")
    count = select(func.count()).where(
        SyncJob.kind == JobKind.CONTACT, SyncJob.object_id == customer.id
    )
    assert db.scalar(count) == 1


def test_linked_customer_panel_shows_the_id(admin_client, db):
    contact_id = str(uuid.uuid4())
    customer = CustomerFactory(xero_contact_id=contact_id)
    page = admin_client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert contact_id in page
    assert "/xero/export" not in page


def test_export_needs_admin_and_csrf(client, db, member):
    customer = CustomerFactory()
    url = f"/admin/customers/{customer.id}/xero/export"
    assert client.post_form(url).headers["Location"].startswith("/login")
    login(client, member.email)
    assert client.post_form(url).status_code == 403
    assert client.post(url, data={}).status_code in (400, 403)
    assert not db.scalar(select(func.count()).where(SyncJob.object_id == customer.id))
