"""Several workers sharing one outbox, the single-use refresh token under concurrency, and
leases that outlive a dead worker.

These run on both databases. PostgreSQL gives the guarantees with row locks (FOR UPDATE SKIP
LOCKED for claims, FOR UPDATE on the connection for a refresh); SQLite ignores FOR UPDATE
but every transaction there starts with BEGIN IMMEDIATE (portal.db), which serialises the
same critical sections, so the same assertions must hold.
"""

import threading
from datetime import timedelta

import pytest

from xero.api.client import XeroApi
from xero.models import ConnectionStatus, JobKind, JobStatus


def run_in_threads(*targets):
    """Start every target at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a worker thread hung"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def sent_invoice_elements(monkeypatch):
    """Every invoice element the portal sends to Xero, by invoice number (all threads)."""
    sent: list[str] = []
    lock = threading.Lock()
    original = XeroApi._send

    def call(self, method, *args, **kwargs):
        if method.__name__ == "update_or_create_invoices":
            with lock:
                sent.extend(i.invoice_number for i in args[0].invoices if i.invoice_number)
        return original(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroApi, "_send", call)
    return sent


def test_two_workers_never_send_an_invoice_twice(env, sent_invoice_elements):
    # The shared budget is not under test here: let both workers go flat out.
    env.service.per_minute = 10_000
    customers = [env.add_customer(name=f"Member Co {n}") for n in range(12)]
    invoice_ids = [env.issue(customers[n % 12]) for n in range(120)]
    workers = [env.worker(batch_size=10), env.worker(batch_size=10)]
    handled = run_in_threads(*(w.drain for w in workers))

    assert all(handled), f"both workers should have taken part: {handled}"
    assert sorted(sent_invoice_elements) == sorted(f"INV-{n:05d}" for n in range(1, 121))
    xero_ids = [env.link(i).xero_invoice_id for i in invoice_ids]
    assert all(xero_ids) and len(set(xero_ids)) == 120
    assert len(env.xero_invoices()) == 120
    assert all(i.status == "AUTHORISED" for i in env.xero_invoices())
    # Both workers met the same new customers: still one contact each.
    assert sorted(c.name for c in env.xero_contacts()) == sorted(
        f"Member Co {n}" for n in range(12)
    )
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}
    invoice_jobs = [j for j in env.jobs() if j.kind == JobKind.INVOICE]
    assert len(invoice_jobs) == 120 and all(j.attempts == 0 for j in invoice_jobs)


def test_two_threads_needing_a_refresh_spend_the_refresh_token_once(env):
    env.update_connection(access_token_expires_at=env.clock() - timedelta(hours=1))
    old_access = env.box.decrypt(env.connection().access_token_encrypted)
    identity = env.sandbox.identity
    assert sum(t.used for t in identity.refresh_tokens.values()) == 0
    # A slow token endpoint makes sure the second thread arrives while the first refreshes.
    env.sandbox.faults.add("slow", count=2, path="/connect/token", seconds=0.5)

    def get_api():
        with env.Session() as db:
            api = env.service.api(db)
            db.commit()
            return api

    apis = run_in_threads(get_api, get_api)

    assert sum(t.used for t in identity.refresh_tokens.values()) == 1
    assert len(identity.refresh_tokens) == 2  # the first pair, and the one refresh's
    connection = env.connection()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.access_token_expires_at > env.clock() + timedelta(minutes=20)
    stored = env.box.decrypt(connection.access_token_encrypted)
    assert stored != old_access
    for api in apis:
        assert api.organisation().name == env.org.name
    # The refresh token stored is the live one: a later refresh works.
    env.update_connection(access_token_expires_at=env.clock() - timedelta(hours=1))
    get_api()
    assert env.connection().status == ConnectionStatus.ACTIVE


def test_a_job_held_by_a_dead_worker_is_taken_up_when_its_lease_ends(env):
    invoice_id = env.issue(env.add_customer(name="Acme"))
    dead = env.worker(lease=timedelta(minutes=5))
    [job_id] = dead.claim(JobKind.INVOICE)  # ...and the process dies before carrying it out
    [job] = [j for j in env.jobs() if j.id == job_id]
    assert job.status == JobStatus.RUNNING and job.locked_until > env.clock()

    survivor = env.worker()
    assert survivor.claim(JobKind.INVOICE) == []  # the lease still holds
    assert env.xero_invoices() == []

    env.advance(5 * 60 + 1)
    survivor.drain()

    [job] = [j for j in env.jobs() if j.id == job_id]
    assert job.status == JobStatus.DONE and job.locked_until is None
    [xero_invoice] = env.xero_invoices()
    assert env.link(invoice_id).xero_invoice_id.lower() == xero_invoice.invoice_id.lower()
