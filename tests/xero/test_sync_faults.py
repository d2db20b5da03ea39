"""What the worker does when Xero says no: 429s and the portal's own budget, 5xx with
backoff and a limit, validation errors, and a fault campaign that mixes them all."""

import random
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from billing.invoices.model import Invoice
from xero.models import JobKind, JobStatus, SyncAttempt, TaxRateMapping
from xero.sync.worker import WorkerConfig


def invoice_job(env, invoice_id):
    [job] = [j for j in env.jobs() if j.kind == JobKind.INVOICE and j.object_id == invoice_id]
    return job


def sandbox_calls(env) -> int:
    """Accounting calls the sandbox counted for the organisation in its rolling minute."""
    usage = env.sandbox.rate_limiter._tenants.get(env.org.tenant_id.lower())
    return len(usage.minute) if usage else 0


def test_a_429_reschedules_for_retry_after_without_counting_or_sleeping(env, monkeypatch):
    customer_id = env.add_customer(name="Acme", ledger_code="ACME")
    invoice_id = env.issue(customer_id)
    # Two calls a minute: the look-up and the new contact pass, the invoice POST gets 429.
    env.sandbox.rate_limiter.configure(enabled=True, per_minute=2)
    # All three calls at one sandbox instant: its Retry-After is the whole rolling minute.
    env.sandbox.clock.freeze()
    sleeps: list[float] = []
    real_sleep = time.sleep

    def note_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(time, "sleep", note_sleep)
    worker = env.worker()

    worker.run_once()

    assert [s for s in sleeps if s >= 1] == [], "run_once must reschedule, not sleep"
    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.PENDING
    assert job.attempts == 0
    assert "limit" in job.last_error
    with env.Session() as db:
        [heard] = db.scalars(
            select(SyncAttempt.at).where(
                SyncAttempt.job_id == job.id, SyncAttempt.outcome == "rate_limited"
            )
        )
    wait = (job.next_attempt_at - heard).total_seconds()
    assert wait == 60  # the sandbox's Retry-After, counted from when the worker heard it
    assert env.xero_invoices() == []
    assert env.customer(customer_id).xero_contact_id  # the work before the 429 is kept

    # Nobody asks Xero again before Retry-After: the organisation is blocked portal-side.
    calls = env.service.counter.calls
    worker.drain()  # the contact's history note is claimed, and rescheduled unsent
    assert env.service.counter.calls == calls

    env.advance(wait + 1)
    worker.drain()
    assert invoice_job(env, invoice_id).status == JobStatus.DONE
    assert len(env.xero_invoices()) == 1 and len(env.xero_contacts()) == 1


def test_the_portal_budget_stops_calls_before_xero_is_asked(env):
    env.service.per_minute = 2
    invoice_id = env.issue(env.add_customer(name="Acme"))
    worker = env.worker()

    worker.run_once()

    # The look-up and the new contact went; the invoice POST was never sent.
    assert env.service.counter.by_method == {"get_contacts": 1, "create_contacts": 1}
    assert sandbox_calls(env) == 2
    assert env.xero_invoices() == []
    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.PENDING and job.attempts == 0
    wait = (job.next_attempt_at - env.clock()).total_seconds()
    assert 50 <= wait <= 60, wait

    env.advance(wait + 1)
    worker.drain()
    assert invoice_job(env, invoice_id).status == JobStatus.DONE
    assert len(env.xero_invoices()) == 1


def test_a_5xx_is_retried_with_backoff(env):
    invoice_id = env.issue(env.add_customer(name="Acme", ledger_code="ACME"))
    env.sandbox.faults.add("status", status=503, method="POST", path="/api.xro/2.0/Invoices*")
    worker = env.worker()

    worker.run_once()

    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.PENDING and job.attempts == 1
    assert "503" in job.last_error
    wait = (job.next_attempt_at - env.clock()).total_seconds()
    assert 4 <= wait <= 10, wait  # backoff_base 10 s with jitter in [5, 10]
    worker.drain()  # (the new contact's note goes) the invoice is not due yet
    assert invoice_job(env, invoice_id).attempts == 1
    assert env.service.counter.by_method["update_or_create_invoices"] == 1

    env.advance(wait + 1)
    worker.drain()
    assert invoice_job(env, invoice_id).status == JobStatus.DONE
    assert len(env.xero_invoices()) == 1


def test_a_5xx_that_persists_stops_in_needs_attention_after_max_attempts(env):
    invoice_id = env.issue(env.add_customer(name="Acme", ledger_code="ACME"))
    env.sandbox.faults.add(
        "status", count=10, status=500, method="POST", path="/api.xro/2.0/Invoices*"
    )
    worker = env.service.worker(WorkerConfig(max_attempts=3), rng=random.Random(1))

    waits = []
    for _ in range(3):
        worker.run_once()
        job = invoice_job(env, invoice_id)
        if job.status == JobStatus.PENDING:
            waits.append((job.next_attempt_at - env.clock()).total_seconds())
            env.advance(waits[-1] + 1)

    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert job.attempts == 3
    assert "500" in job.last_error
    assert 4 <= waits[0] <= 10 and 9 <= waits[1] <= 20, waits  # doubling ceilings
    assert env.xero_invoices() == []
    assert env.service.counter.by_method["update_or_create_invoices"] == 3
    env.advance(24 * 3600)
    worker.drain()  # it stays stopped
    assert env.service.counter.by_method["update_or_create_invoices"] == 3
    assert invoice_job(env, invoice_id).status == JobStatus.NEEDS_ATTENTION


def test_an_invalid_tax_type_needs_attention_at_once_with_xeros_message(env):
    with env.Session() as db, db.begin():
        db.execute(update(TaxRateMapping).values(tax_type="INPUT2"))  # an expenses rate
    invoice_id = env.issue(env.add_customer(name="Acme"))

    env.worker().drain()

    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.NEEDS_ATTENTION and job.attempts == 1
    assert "The TaxType code INPUT2" in job.last_error
    assert env.service.counter.by_method["update_or_create_invoices"] == 1
    assert env.xero_invoices() == []


def test_a_refused_contact_needs_attention_at_once_with_xeros_message(env):
    invoice_id = env.issue(env.add_customer(name="Acme", email="accounts at acme"))

    env.worker().drain()

    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.NEEDS_ATTENTION and job.attempts == 1
    assert job.last_error == "Email address must be valid."
    assert env.xero_contacts() == [] and env.xero_invoices() == []
    assert "update_or_create_invoices" not in env.service.counter.by_method


def test_fault_campaign_every_invoice_once_authorised_with_equal_totals(env):
    """300 invoices for 100 customers while a fifth of all calls fail: 500s, 503s, answers
    lost after the write (504 or a closed socket), including the token endpoint's."""
    customers = [env.add_customer(name=f"Campaign Co {n:03d}") for n in range(100)]
    # A third of them come with their own ledger code, the rest get one assigned.
    env.set_many_ledger_codes({c: f"LED-{c}" for c in customers[::3]})
    invoice_ids = [env.issue(customers[n % 100], quantity=str(1 + n % 7)) for n in range(300)]
    env.sandbox.faults.set_rate(0.2, seed=20261102)
    worker = env.service.worker(WorkerConfig(batch_size=50), rng=random.Random(3))

    env.drain_all(worker, max_rounds=2000)

    fired = env.sandbox.faults.fired
    assert len(fired) > 50, "the campaign should have met plenty of faults"
    assert {kind for _, _, kind in fired} >= {"status", "drop"}
    jobs = env.jobs()
    assert {j.status for j in jobs} == {JobStatus.DONE}, [
        (j.kind, j.object_id, j.last_error) for j in jobs if j.status != JobStatus.DONE
    ]
    with env.Session() as db:
        totals = {i.id: (i.number, i.total) for i in db.query(Invoice)}
    by_id = {i.invoice_id.lower(): i for i in env.xero_invoices()}
    assert len(by_id) == 300
    for invoice_id in invoice_ids:
        link = env.link(invoice_id)
        xero_invoice = by_id[link.xero_invoice_id.lower()]
        number, total = totals[invoice_id]
        assert xero_invoice.invoice_number == number
        assert xero_invoice.status == "AUTHORISED"
        assert xero_invoice.total == total and total > Decimal("0")
        assert link.online_invoice_url
    names = [c.name for c in env.xero_contacts()]
    assert len(names) == len(set(names)) == 100
    for customer_id in customers:
        customer = env.customer(customer_id)
        assert customer.xero_contact_id and customer.ledger_code
    assert env.connection().status == "active"
    assert env.clock() - env.jobs()[0].created_at < timedelta(days=1)


def test_one_failed_call_of_a_one_call_per_object_batch_fails_only_its_own_job(env):
    customer_id = env.add_customer(name="Acme", ledger_code="ACME")
    invoice_ids = [env.issue(customer_id) for _ in range(5)]
    worker = env.worker()
    worker.run_once()  # contact and invoices; the online-link jobs come next
    env.sandbox.faults.add("status", status=503, method="GET", path="*/OnlineInvoice")

    worker.run_once()

    online = {j.object_id: j for j in env.jobs() if j.kind == JobKind.ONLINE_INVOICE}
    failed = [j for j in online.values() if j.status != JobStatus.DONE]
    assert len(failed) == 1 and failed[0].attempts == 1 and "503" in failed[0].last_error
    done = [i for i in invoice_ids if online[i].status == JobStatus.DONE]
    assert len(done) == 4 and all(online[i].attempts == 0 for i in done)
    assert env.service.counter.by_method["get_online_invoice"] == 5  # none asked twice

    env.advance(30)
    worker.drain()
    assert all(env.link(i).online_invoice_url for i in invoice_ids)
    assert env.service.counter.by_method["get_online_invoice"] == 6


def test_a_history_note_whose_answer_was_lost_is_not_added_twice(env):
    env.add_xero_contact("Acme")  # linked, not created: the link gets a note
    env.issue(env.add_customer(name="Acme", ledger_code="ACME"))
    worker = env.worker()
    worker.run_once()  # contact and invoice
    env.sandbox.faults.add("drop", method="PUT", path="*/History")

    worker.run_once()  # online link, and the note: written, its answer lost
    assert env.sandbox.faults.fired[-1][2] == "drop"
    [note_job] = [j for j in env.jobs() if j.kind == JobKind.CONTACT_NOTE]
    assert note_job.status == JobStatus.PENDING and note_job.attempts == 1
    env.advance(30)
    worker.drain()

    [contact] = env.xero_contacts()
    assert len([h for h in contact.history if h.changes == "Note"]) == 1
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}
