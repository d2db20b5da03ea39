"""Issued invoices reach Xero as AUTHORISED exactly once, through the real worker, the real
xero-python client and the sandbox (whose traffic is checked against Xero's OpenAPI)."""

from decimal import Decimal

import pytest

from xero.models import JobKind, JobStatus


def test_issued_invoice_is_in_xero_as_authorised_with_equal_totals(env):
    customer_id = env.add_customer(name="Brightdesk Ltd", email="ap@brightdesk.example")
    invoice_id = env.issue(customer_id, quantity="3")  # 74.85 + 14.97 tax = 89.82

    assert env.worker().drain() >= 1

    [xero_invoice] = env.xero_invoices()
    assert xero_invoice.status == "AUTHORISED"
    assert xero_invoice.invoice_number == "INV-00001"
    assert xero_invoice.total == Decimal("89.82")
    assert xero_invoice.total_tax == Decimal("14.97")
    [line] = xero_invoice.line_items
    assert line.account_code == "200" and line.tax_type == "OUTPUT2"
    link = env.link(invoice_id)
    assert link.xero_invoice_id.lower() == xero_invoice.invoice_id.lower()
    assert link.xero_status == "AUTHORISED"
    assert link.online_invoice_url.startswith("http")
    assert all(job.status == JobStatus.DONE for job in env.jobs())


def test_blank_ledger_code_creates_the_contact_and_stores_its_code(env):
    customer_id = env.add_customer(name="Northwind Apps", email="finance@northwind.example")
    env.issue(customer_id)
    env.worker().drain()

    [contact] = env.xero_contacts()
    customer = env.customer(customer_id)
    assert contact.name == "Northwind Apps"
    assert customer.xero_contact_id.lower() == contact.contact_id.lower()
    assert customer.ledger_code == contact.contact_number == f"CUST-{customer_id:05d}"


def test_a_second_drain_sends_nothing(env):
    env.issue(env.add_customer(name="Acme"))
    worker = env.worker()
    worker.drain()
    calls = env.service.counter.calls
    assert worker.drain() == 0
    assert env.service.counter.calls == calls
    assert len(env.xero_invoices()) == 1


def test_a_batch_with_a_bad_invoice_saves_the_good_ones(env):
    customer_id = env.add_customer(name="Acme")
    bad_service = env.add_service(code="BAD", name="Unknown account", sales_account_code="999")
    good = [env.issue(customer_id), env.issue(customer_id)]
    bad = env.issue(customer_id, service_id=bad_service)

    env.worker().drain()

    assert sorted(i.invoice_number for i in env.xero_invoices()) == ["INV-00001", "INV-00002"]
    assert env.service.counter.by_method["update_or_create_invoices"] == 1
    by_invoice = {j.object_id: j for j in env.jobs() if j.kind == JobKind.INVOICE}
    assert all(by_invoice[i].status == JobStatus.DONE for i in good)
    assert by_invoice[bad].status == JobStatus.NEEDS_ATTENTION
    assert "999" in by_invoice[bad].last_error
    assert env.link(bad) is None or not env.link(bad).xero_invoice_id


def test_fifty_invoices_go_in_one_call(env):
    customer_ids = [env.add_customer(name=f"Company {n}") for n in range(5)]
    for n in range(50):
        env.issue(customer_ids[n % 5])
    env.worker().drain()
    assert len(env.xero_invoices()) == 50
    counts = env.service.counter.by_method
    assert counts["update_or_create_invoices"] == 1
    assert counts["create_contacts"] == 1
    assert counts["get_contacts"] == 1


def test_dropped_response_after_the_write_gives_exactly_one_invoice(env):
    customer_id = env.add_customer(name="Acme", ledger_code="ACME")
    invoice_id = env.issue(customer_id)
    env.sandbox.faults.add("drop", method="POST", path="/api.xro/2.0/Invoices*")

    worker = env.worker()
    worker.run_once()
    [job] = [j for j in env.jobs() if j.kind == JobKind.INVOICE]
    assert job.status == JobStatus.PENDING and job.outcome_unknown
    assert len(env.xero_invoices()) == 1  # the write happened, the answer was lost

    env.clock.advance(3600)
    # Past Xero's 6-minute Idempotency-Key memory: only the look-up can prevent a duplicate.
    env.sandbox.advance_clock(3600)
    worker.drain()

    assert len(env.xero_invoices()) == 1
    assert env.link(invoice_id).xero_invoice_id
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}


def test_unmapped_tax_rate_needs_attention_before_anything_is_sent(env):
    with env.Session() as db, db.begin():
        from billing.services import add_tax_rate

        rate = add_tax_rate(db, "Reduced", Decimal("5"))
        rate_id = rate.id
    service_id = env.add_service(code="MAIL", name="Mail", tax_rate_id=rate_id)
    env.issue(env.add_customer(name="Acme"), service_id=service_id)

    env.worker().drain()

    [job] = [j for j in env.jobs() if j.kind == JobKind.INVOICE]
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert "Reduced" in job.last_error
    assert env.xero_invoices() == []
    assert env.service.counter.calls == 0


def _set(env, **values):
    from sqlalchemy import update

    from xero.models import XeroSettings

    with env.Session() as db, db.begin():
        db.execute(update(XeroSettings).values(**values))


@pytest.mark.parametrize("sync_names", [True, False])
def test_client_name_sync_renames_the_xero_contact_on_each_push(env, sync_names):
    _set(env, sync_client_names=sync_names)
    customer_id = env.add_customer(name="Brightdesk Ltd")
    env.issue(customer_id)
    env.worker().drain()
    [contact] = env.xero_contacts()
    contact.name = "Renamed in Xero"  # someone edits the contact in Xero

    env.issue(customer_id)
    env.worker().drain()

    expected = "Brightdesk Ltd" if sync_names else "Renamed in Xero"
    assert [c.name for c in env.xero_contacts()] == [expected]


def test_invoices_are_emailed_from_xero_when_asked(env):
    _set(env, after_push="email")
    customer_id = env.add_customer(name="Acme", email="ap@acme.example")
    env.issue(customer_id)
    env.issue(customer_id)
    env.worker().drain()
    assert len(env.org.sent_emails) == 2
    assert {e.to for e in env.org.sent_emails} == {"ap@acme.example"}


def test_one_job_per_object_at_a_time(env):
    from xero.models import SyncJob

    invoice_id = env.issue(env.add_customer(name="Acme"))
    with env.Session() as db, db.begin():
        # A second job for the same invoice (the first had failed once, so no merging).
        first = db.query(SyncJob).filter_by(object_id=invoice_id).one()
        first.attempts = 1
        db.add(SyncJob(kind=JobKind.INVOICE, object_id=invoice_id, idempotency_key="second"))
    worker = env.worker()
    claimed = worker.claim(JobKind.INVOICE)
    assert len(claimed) == 1
    assert worker.claim(JobKind.INVOICE) == []  # the other waits while the first runs
    worker.process(JobKind.INVOICE, claimed)
    assert len(worker.claim(JobKind.INVOICE)) == 1
