"""The ledger check finds every way the portal and Xero can disagree, and only those."""

import dataclasses
import threading
from datetime import date
from decimal import Decimal

from xero_python.accounting import Invoices

from billing.invoices.model import Invoice
from billing.payments.operations import record_payment
from tests.conftest import make_test_app
from tests.xero import builders
from xero.admin.ledger_check import (
    LEASE,
    LedgerCheckRunner,
    check_ledgers,
    result_of,
    start_run,
)
from xero.models import ConnectionStatus, LedgerCheckRun


def check(env):
    with env.Session() as db:
        return check_ledgers(db, env.service.api(db))


def synced(env, count=2):
    customer_id = env.add_customer(name="Acme")
    ids = [env.issue(customer_id) for _ in range(count)]
    env.worker().drain()
    return ids


def test_agreeing_ledgers(env):
    synced(env, 3)
    result = check(env)
    assert result.checked == 3
    assert result.ok, result.mismatches


def test_a_payment_only_in_xero_is_a_mismatch(env):
    synced(env, 1)
    [x] = env.xero_invoices()
    x.amount_paid = Decimal("10.00")  # as if paid in Xero and not (yet) read back
    result = check(env)
    assert {m.what for m in result.mismatches} >= {"amount paid", "amount due"}


def test_a_portal_payment_missing_in_xero_is_a_mismatch(env):
    [invoice_id] = synced(env, 1)
    with env.Session() as db, db.begin():
        invoice = db.get(Invoice, invoice_id)
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=date.today(),
            method="card",
            reference="ch_1",
        )
    mismatches = check(env).mismatches
    assert {m.what for m in mismatches} == {
        "status",
        "amount paid",
        "amount due",
        "payments (amount, reference)",
    }
    assert any("ch_1" in m.portal for m in mismatches)


def test_an_invoice_missing_from_xero(env):
    synced(env, 1)
    env.org.invoices.clear()
    [mismatch] = check(env).mismatches
    assert mismatch.what == "presence"


def test_cli_exit_code(env):
    synced(env, 1)
    app = make_test_app(
        env.database_url,
        ENCRYPTION_KEY=env.fernet_key,
        XERO_BASE_URL=env.served.url,
        XERO_CLIENT_ID=env.client.client_id,
        XERO_CLIENT_SECRET=env.client.client_secret,
    )
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["billing", "reconcile", "--check"])
    assert ok.exit_code == 0, ok.output
    assert (
        "1 invoices checked, 0 mismatches, 0 never reached Xero, 0 unknown to the portal."
        in ok.output
    )

    [x] = env.xero_invoices()
    x.status = "VOIDED"
    bad = runner.invoke(args=["billing", "reconcile", "--check"])
    assert bad.exit_code == 1
    assert "status is awaiting" not in bad.output
    assert "status is AUTHORISED in the portal, VOIDED in Xero" in bad.output


def test_portal_books_that_disagree_with_their_own_payments_fail_the_check(env):
    """A lost update (amount paid not the sum of the payments) fails the check even where
    Xero happens to agree with the portal's wrong figure."""
    [invoice_id] = synced(env, 1)
    with env.Session() as db, db.begin():
        db.get(Invoice, invoice_id).amount_paid = Decimal("10.00")
    [x] = env.xero_invoices()
    x.amount_paid = Decimal("10.00")  # the sandbox derives its amount due from this
    result = check(env)
    assert not result.ok
    [violation] = result.portal_violations
    assert violation.invoice_id == invoice_id
    assert "live payments add up to 0.00" in str(violation)


# -- the check as a background run --------------------------------------------------------


def runner(env, service=None, **options):
    service = service or env.service
    return LedgerCheckRunner(
        env.Session, service.ledger_check_api, clock=env.clock, **{"chunk_size": 2, **options}
    )


def start(env, user_id=None):
    with env.Session() as db, db.begin():
        return start_run(db, user_id, env.clock()).id


def run_of(env, run_id):
    with env.Session() as db:
        return db.get(LedgerCheckRun, run_id)


def findings(env, run_id):
    with env.Session() as db:
        return result_of(db, db.get(LedgerCheckRun, run_id))


def test_a_run_goes_a_chunk_at_a_time_and_keeps_its_progress(env):
    synced(env, 5)
    run_id = start(env)
    assert run_of(env, run_id).total == 5
    check = runner(env)
    calls = env.service.counter.calls
    progress = []
    while check.run_once():
        run = run_of(env, run_id)
        progress.append((run.checked, run.status))
    # 2 + 2 + 1 invoices, then the one linked contact's invoices in Xero.
    assert progress == [(2, "running"), (4, "running"), (5, "running"), (5, "done")]
    assert env.service.counter.calls - calls == 4  # three GETs by id, one by contact
    run = run_of(env, run_id)
    assert run.active is None and run.finished_at is not None and run.locked_until is None
    result = findings(env, run_id)
    assert result.checked == 5 and result.ok


def test_findings_are_kept_with_the_run(env):
    synced(env, 2)
    [x, _] = env.xero_invoices()
    x.status = "VOIDED"
    run_id = start(env)
    runner(env).drain()
    assert run_of(env, run_id).status == "done"
    [mismatch] = findings(env, run_id).mismatches
    assert (mismatch.what, mismatch.portal, mismatch.xero) == ("status", "AUTHORISED", "VOIDED")


def test_an_issued_invoice_that_never_reached_xero_is_reported(env):
    [synced_id] = synced(env, 1)
    customer_id = env.customer(env.add_customer(name="Later Ltd")).id
    unsent = env.issue(customer_id)  # its sync job not carried out yet
    run_id = start(env)
    runner(env).drain()
    result = findings(env, run_id)
    assert result.checked == 2
    [missing] = result.not_in_xero
    with env.Session() as db:
        assert missing.invoice_number == db.get(Invoice, unsent).number
        assert missing.invoice_number != db.get(Invoice, synced_id).number
    assert not result.mismatches and not result.ok


def test_an_invoice_in_xero_for_a_linked_contact_that_the_portal_does_not_know(env):
    synced(env, 1)
    [contact] = env.xero_contacts()
    api = env.api()
    made = api.accounting.create_invoices(
        api.tenant_id,
        Invoices(invoices=[builders.invoice(contact.contact_id, invoice_number="BY-HAND-1")]),
        _request_timeout=(2, 5),
    ).invoices[0]
    # Another contact's invoice, not linked to any customer, is none of the portal's business.
    other = env.add_xero_contact("Not a customer")
    api.accounting.create_invoices(
        api.tenant_id,
        Invoices(invoices=[builders.invoice(other, invoice_number="ELSEWHERE-1")]),
        _request_timeout=(2, 5),
    )
    run_id = start(env)
    runner(env).drain()
    [unknown] = findings(env, run_id).unknown_in_xero
    assert unknown.invoice_number == "BY-HAND-1"
    assert unknown.xero == f"AUTHORISED for {made.total:.2f}"  # 100.00 and 20% tax
    # The same from the in-process check.
    with env.Session() as db:
        [again] = check_ledgers(db, env.service.api(db)).unknown_in_xero
    assert again.invoice_number == "BY-HAND-1"


def test_only_one_run_at_a_time(env):
    synced(env, 1)
    first = start(env)
    assert start(env) == first
    runner(env).drain()
    assert run_of(env, first).status == "done"
    assert start(env) != first


def test_a_run_held_by_one_worker_is_not_taken_by_another_until_its_lease_ends(env):
    """A worker that stopped mid-chunk (a restart) leaves the chunk to the next one after
    its lease; the run goes on from its cursor, no chunk done twice."""
    synced(env, 3)
    run_id = start(env)
    first, second = runner(env), runner(env)
    assert first.run_once() == 1
    with env.Session() as db:
        assert first._claim(db, run_id, env.clock())  # then the worker dies with it
    assert second.run_once() == 0
    assert run_of(env, run_id).checked == 2
    env.advance(LEASE.total_seconds() + 1)
    second.drain()
    run = run_of(env, run_id)
    assert (run.status, run.checked) == ("done", 3)
    assert findings(env, run_id).ok


def test_a_run_waits_for_its_share_of_the_rate_budget(env):
    """Six calls a minute for the organisation leave the check five: it waits the rest of
    the minute (the run says until when) instead of sleeping, then goes on."""
    synced(env, 7)
    env.advance(61)  # the sync's own calls out of the minute
    limited = dataclasses.replace(env.service, per_minute=6)
    run_id = start(env)
    check = runner(env, limited, chunk_size=1)
    assert check.drain() == 5
    run = run_of(env, run_id)
    assert run.checked == 5 and run.status == "running"
    assert run.locked_until > env.clock()
    env.advance((run.locked_until - env.clock()).total_seconds() + 1)
    check.drain()
    run = run_of(env, run_id)
    assert (run.status, run.checked) == ("done", 7)


def test_a_run_fails_when_xero_cannot_be_read(env):
    synced(env, 1)
    env.update_connection(status=ConnectionStatus.REMOVED)
    run_id = start(env)
    assert runner(env).run_once() == 0
    run = run_of(env, run_id)
    assert run.status == "failed" and run.active is None
    assert run.error


def test_two_workers_at_once_never_carry_out_the_same_chunk(env):
    """Both try every chunk; the conditional UPDATE of the lease lets one through each time
    (on PostgreSQL the second UPDATE waits for the first and then finds the lease taken)."""
    synced(env, 6)
    run_id = start(env)
    barrier = threading.Barrier(2)
    done: list[int] = []

    def work():
        check = runner(env)
        barrier.wait()
        chunks = 0
        for _ in range(10_000):
            chunks += check.run_once()
            if run_of(env, run_id).finished:
                break
        done.append(chunks)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    run = run_of(env, run_id)
    assert (run.status, run.checked) == ("done", 6)
    # Three chunks of invoices, one that finds none left, one of contacts: each done once.
    assert sum(done) == 5
    assert findings(env, run_id).ok
