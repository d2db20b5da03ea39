"""The connection's life around the outbox: removed and restored, access lost and given
again, and voids that Xero may refuse."""

from datetime import date
from decimal import Decimal

from xero_python.accounting import Account, Invoice, Payment, Payments

from xero.api import tokens
from xero.models import ConnectionStatus, JobKind, JobStatus


def jobs_of(env, kind):
    return [j for j in env.jobs() if j.kind == kind]


def test_a_removed_connection_pauses_the_outbox_until_it_is_active_again(env):
    invoice_ids = [env.issue(env.add_customer(name=f"Co {n}")) for n in range(3)]
    env.update_connection(status=ConnectionStatus.REMOVED)
    worker = env.worker()

    assert worker.claim(JobKind.INVOICE) == []
    assert worker.drain() == 0
    env.advance(3600)
    assert worker.drain() == 0
    jobs = jobs_of(env, JobKind.INVOICE)
    assert [j.status for j in jobs] == [JobStatus.PENDING] * 3
    assert all(j.attempts == 0 for j in jobs)
    assert env.service.counter.calls == 0 and env.xero_invoices() == []

    env.update_connection(status=ConnectionStatus.ACTIVE)
    worker.drain()

    assert {j.status for j in env.jobs()} == {JobStatus.DONE}
    assert all(env.link(i).xero_invoice_id for i in invoice_ids)
    assert len(env.xero_invoices()) == 3


def test_revoked_access_asks_for_a_reconnect_and_the_jobs_wait_for_it(env):
    first = env.issue(env.add_customer(name="Acme", ledger_code="ACME"))
    env.worker().drain()
    assert env.link(first).xero_invoice_id
    # The organisation's admin disconnects the app in Xero: the grant and its tokens die.
    tokens.revoke(env.oauth, env.refresh_token())
    waiting = [env.issue(env.add_customer(name=f"Co {n}")) for n in range(3)]
    worker = env.worker()

    worker.run_once()

    connection = env.connection()
    assert connection.status == ConnectionStatus.RECONNECT_NEEDED
    assert "refresh token" in connection.last_failure
    jobs = [j for j in jobs_of(env, JobKind.INVOICE) if j.object_id in waiting]
    assert [j.status for j in jobs] == [JobStatus.PENDING] * 3
    assert all(j.attempts == 0 for j in jobs)
    # While it waits, nothing is claimed and nothing is asked of Xero, however long.
    calls = env.service.counter.calls
    env.advance(6 * 3600)
    assert worker.drain() == 0
    assert env.service.counter.calls == calls

    env.reconnect()
    worker.drain()

    assert env.connection().status == ConnectionStatus.ACTIVE
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}
    assert all(env.link(i).xero_invoice_id for i in waiting)
    assert len(env.xero_invoices()) == 4


def test_a_refresh_refused_marks_the_connection_and_keeps_the_jobs(env):
    """The same loss found at the token refresh (the access token had expired)."""
    tokens.revoke(env.oauth, env.refresh_token())
    env.advance(31 * 60)  # the stored access token is now past its expiry
    invoice_id = env.issue(env.add_customer(name="Acme"))

    env.worker().run_once()

    assert env.connection().status == ConnectionStatus.RECONNECT_NEEDED
    [job] = jobs_of(env, JobKind.INVOICE)
    assert job.status == JobStatus.PENDING and job.attempts == 0

    env.reconnect()
    env.drain_all()
    assert env.link(invoice_id).xero_invoice_id
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}


def xero_twin(env, invoice_id):
    return env.org.invoices[env.link(invoice_id).xero_invoice_id.lower()]


def test_a_voided_invoice_is_voided_in_xero(env):
    invoice_id = env.issue(env.add_customer(name="Acme"))
    env.worker().drain()
    assert xero_twin(env, invoice_id).status == "AUTHORISED"

    env.void(invoice_id)
    [job] = jobs_of(env, JobKind.VOID_INVOICE)
    assert job.status == JobStatus.PENDING
    env.worker().drain()

    assert xero_twin(env, invoice_id).status == "VOIDED"
    assert env.link(invoice_id).xero_status == "VOIDED"
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}
    assert len(env.xero_invoices()) == 1


def test_a_void_that_xero_refuses_because_of_a_payment_needs_attention(env):
    invoice_id = env.issue(env.add_customer(name="Acme"))  # 89.82
    env.worker().drain()
    twin = xero_twin(env, invoice_id)
    # A member paid part of it through the payment service linked to Xero.
    api = env.api()
    api._send(
        api.accounting.create_payments,
        Payments(
            payments=[
                Payment(
                    invoice=Invoice(invoice_id=twin.invoice_id),
                    account=Account(code="090"),
                    amount=Decimal("20.00"),
                    date=date(2026, 11, 3),
                    reference="stripe:pi_partial",
                )
            ]
        ),
        write=True,
    )

    env.void(invoice_id)
    env.worker().drain()

    [job] = jobs_of(env, JobKind.VOID_INVOICE)
    assert job.status == JobStatus.NEEDS_ATTENTION and job.attempts == 1
    assert "cannot be edited as it has a payment" in job.last_error
    assert twin.status == "AUTHORISED" and twin.amount_paid == Decimal("20.00")
    assert env.link(invoice_id).xero_status == "AUTHORISED"
