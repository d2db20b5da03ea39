"""Portal payments reach Xero: against the invoice's twin, on the payments account, with the
gateway's transaction id as Reference, batched, once, and re-stated after refunds."""

from decimal import Decimal

import pytest

from billing.payments.overpayments import of_invoice
from tests.xero.payments_env import PaymentEnv
from xero.models import JobKind, JobStatus, SyncJob


@pytest.fixture
def env_class():
    return PaymentEnv


def test_a_card_payment_marks_the_xero_invoice_paid_with_its_reference(env):
    invoice_id = env.issue_in_xero(quantity="3")  # 89.82
    payment_id = env.card_payment(invoice_id)

    env.drain_all()

    [xero_payment] = env.xero_payments_of(invoice_id)
    payment = env.payment(payment_id)
    assert payment.xero_payment_id.lower() == xero_payment.payment_id.lower()
    assert xero_payment.reference == payment.reference and payment.reference.startswith("ch_")
    assert xero_payment.amount == Decimal("89.82")
    assert env.org.accounts[xero_payment.account_id].code == "090"
    assert xero_payment.date.isoformat() == "2026-11-05"
    xero_invoice = env.xero_invoice_of(invoice_id)
    assert (xero_invoice.status, xero_invoice.amount_due) == ("PAID", Decimal("0.00"))
    assert env.invoice(invoice_id).status == "paid"
    assert {j.status for j in env.payment_jobs()} == {JobStatus.DONE}


def test_a_part_payment_leaves_the_same_amount_due_on_both_sides(env):
    invoice_id = env.issue_in_xero(quantity="3")
    env.card_payment(invoice_id, "20.00")
    env.drain_all()
    xero_invoice = env.xero_invoice_of(invoice_id)
    assert xero_invoice.status == "AUTHORISED"
    assert xero_invoice.amount_due == env.invoice(invoice_id).amount_due == Decimal("69.82")


def test_several_payments_go_in_one_call(env):
    customer_id = env.add_customer(name="Brightdesk Ltd")
    invoices = [env.issue(customer_id) for _ in range(6)]
    env.drain_all()
    before = env.service.counter.by_method.get("create_payments", 0)
    for invoice_id in invoices:
        env.card_payment(invoice_id)

    env.drain_all()

    assert env.service.counter.by_method["create_payments"] - before == 1
    assert all(env.xero_invoice_of(i).status == "PAID" for i in invoices)
    assert all(len(env.xero_payments_of(i)) == 1 for i in invoices)


def test_a_payment_xero_has_no_room_for_waits_until_xeros_own_is_read_back(env):
    good = env.issue_in_xero()
    bad = env.issue_in_xero()
    env.card_payment(good)
    bad_payment = env.card_payment(bad)
    # Paid in Xero too (a bank reconciliation) before the portal's payment got there.
    xero_payment_id = env.pay_in_xero(bad, "80.00")

    env.worker().drain()

    by_payment = {j.object_id: j for j in env.payment_jobs()}
    waiting = by_payment[bad_payment]
    assert (waiting.status, waiting.attempts) == (JobStatus.PENDING, 0)  # not an admin's job
    assert "Xero has other payments on invoice" in waiting.last_error
    assert "exceeds the amount outstanding" in waiting.last_error
    assert env.xero_invoice_of(good).status == "PAID"
    assert env.payment(bad_payment).xero_payment_id is None

    # The poll reads Xero's payment back: the portal holds its card payment as the
    # overpayment (Xero's stands on the invoice in both books), and the job has nothing
    # left to write.
    env.pull()
    env.drain_all()

    assert {j.status for j in env.payment_jobs()} == {JobStatus.DONE}
    assert [p.payment_id for p in env.xero_payments_of(bad)] == [xero_payment_id]
    card = env.payment(bad_payment)
    assert card.held and card.xero_payment_id is None
    with env.Session() as db:
        [overpayment] = of_invoice(db, bad)
        assert overpayment.payment_id == bad_payment


def test_xero_down_while_a_card_payment_succeeds_then_it_reaches_xero(env):
    invoice_id = env.issue_in_xero()
    env.sandbox.faults.add("status", 3, method="PUT", path="/api.xro/2.0/Payments*")
    payment_id = env.card_payment(invoice_id)

    worker = env.worker()
    worker.run_once()
    [job] = env.payment_jobs()
    assert job.status == JobStatus.PENDING and job.attempts == 1
    assert env.invoice(invoice_id).status == "paid"  # the portal kept the payment
    assert env.xero_payments_of(invoice_id) == []

    env.drain_all(worker)

    [xero_payment] = env.xero_payments_of(invoice_id)
    assert env.payment(payment_id).xero_payment_id.lower() == xero_payment.payment_id.lower()
    assert env.xero_invoice_of(invoice_id).status == "PAID"


def test_a_lost_answer_after_the_write_gives_exactly_one_xero_payment(env):
    invoice_id = env.issue_in_xero()
    payment_id = env.card_payment(invoice_id)
    env.sandbox.faults.add("drop", method="PUT", path="/api.xro/2.0/Payments*")

    worker = env.worker()
    worker.run_once()
    [job] = env.payment_jobs()
    assert job.outcome_unknown and job.status == JobStatus.PENDING
    assert len(env.xero_payments_of(invoice_id)) == 1

    env.advance(3600)  # past Xero's memory of the Idempotency-Key: only the look-up helps
    env.drain_all(worker)

    [xero_payment] = env.xero_payments_of(invoice_id)
    assert env.payment(payment_id).xero_payment_id.lower() == xero_payment.payment_id.lower()
    assert {j.status for j in env.payment_jobs()} == {JobStatus.DONE}


def test_a_payment_waits_for_its_invoice_to_reach_xero(env):
    customer_id = env.add_customer(name="Acme")
    env.sandbox.faults.add("status", 2, path="/api.xro/2.0/Invoices*")
    invoice_id = env.issue(customer_id)
    env.card_payment(invoice_id, "10.00")

    env.worker().run_once()
    [job] = env.payment_jobs()
    assert job.status == JobStatus.PENDING
    assert job.attempts == 0  # waiting is not failing
    assert "reach Xero" in job.last_error
    with env.Session() as db:
        assert [a.outcome for a in db.get(SyncJob, job.id).attempts_log] == ["waiting"]

    env.drain_all()

    [xero_payment] = env.xero_payments_of(invoice_id)
    assert xero_payment.amount == Decimal("10.00")
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}


def test_a_waiting_payment_goes_as_soon_as_its_invoice_reaches_xero(env):
    customer_id = env.add_customer(name="Acme")
    env.sandbox.faults.add("status", 1, path="/api.xro/2.0/Invoices*")
    invoice_id = env.issue(customer_id)
    env.card_payment(invoice_id, "10.00")
    worker = env.worker()
    worker.run_once()  # the invoice's push fails; its payment waits for it
    [payment_job] = env.payment_jobs()
    assert payment_job.status == JobStatus.PENDING and "reach Xero" in payment_job.last_error
    [invoice_job] = [j for j in env.jobs() if j.kind == JobKind.INVOICE]
    assert invoice_job.next_attempt_at < payment_job.next_attempt_at

    # Only as far as the invoice's retry: the payment's own wait has not run out.
    env.advance((invoice_job.next_attempt_at - env.clock()).total_seconds() + 1)
    worker.drain()

    assert env.clock() < payment_job.next_attempt_at
    [xero_payment] = env.xero_payments_of(invoice_id)
    assert xero_payment.amount == Decimal("10.00")
    assert {j.status for j in env.jobs() if j.kind in (JobKind.INVOICE, JobKind.PAYMENT)} == {
        JobStatus.DONE
    }


def test_a_partial_refund_replaces_the_xero_payment_with_the_net_amount(env):
    invoice_id = env.issue_in_xero()  # 89.82
    payment_id = env.card_payment(invoice_id)
    env.drain_all()
    [first] = env.xero_payments_of(invoice_id)

    env.refund(payment_id, "20.00")
    env.drain_all()

    assert env.org.payments[first.payment_id].status == "DELETED"
    [replacement] = env.xero_payments_of(invoice_id)
    assert replacement.amount == Decimal("69.82")
    assert replacement.reference == first.reference
    assert env.payment(payment_id).xero_payment_id.lower() == replacement.payment_id.lower()
    xero_invoice = env.xero_invoice_of(invoice_id)
    invoice = env.invoice(invoice_id)
    assert xero_invoice.status == "AUTHORISED" and invoice.status == "awaiting_payment"
    assert xero_invoice.amount_due == invoice.amount_due == Decimal("20.00")


def test_a_full_refund_or_reversal_deletes_the_xero_payment(env):
    refunded = env.issue_in_xero()
    reversed_ = env.issue_in_xero()
    refunded_payment = env.card_payment(refunded)
    reversed_payment = env.card_payment(reversed_)
    env.drain_all()

    env.refund(refunded_payment, "89.82")
    env.reverse(reversed_payment)
    env.drain_all()

    for invoice_id in (refunded, reversed_):
        assert env.xero_payments_of(invoice_id) == []
        xero_invoice = env.xero_invoice_of(invoice_id)
        assert xero_invoice.status == "AUTHORISED"
        assert xero_invoice.amount_due == env.invoice(invoice_id).amount_due == Decimal("89.82")
    assert env.payment(refunded_payment).xero_payment_id is None


def test_a_refund_before_the_first_push_sends_only_the_net_amount(env):
    invoice_id = env.issue_in_xero()
    payment_id = env.card_payment(invoice_id)
    env.refund(payment_id, "9.82")
    env.drain_all()
    [xero_payment] = env.xero_payments_of(invoice_id, status=None)
    assert xero_payment.amount == Decimal("80.00")
    assert env.service.counter.by_method.get("delete_payment", 0) == 0


def test_nothing_is_sent_when_payments_out_is_off(env):
    env.set_settings(sync_payments_out=False)
    invoice_id = env.issue_in_xero()
    env.card_payment(invoice_id)
    env.drain_all()
    assert env.payment_jobs() == []
    assert env.xero_payments_of(invoice_id) == []


def test_a_payment_queued_before_payments_out_was_turned_off_is_not_sent(env):
    invoice_id = env.issue_in_xero()
    env.card_payment(invoice_id)  # queued while on
    env.set_settings(sync_payments_out=False)
    env.drain_all()
    [job] = env.payment_jobs()
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert "turned off in the Xero settings" in job.last_error
    assert env.xero_payments_of(invoice_id) == []
    assert "create_payments" not in env.service.counter.by_method


def test_without_a_payments_account_the_job_needs_attention(env):
    env.set_settings(payments_account="")
    invoice_id = env.issue_in_xero()
    env.card_payment(invoice_id)
    env.drain_all()
    [job] = env.payment_jobs()
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert "payments" in job.last_error and "Xero settings" in job.last_error
    assert "create_payments" not in env.service.counter.by_method


def test_an_invoice_paid_before_its_first_push_still_reaches_xero(env):
    invoice_id = env.issue(env.add_customer(name="Quick Payer Ltd"))
    env.card_payment(invoice_id)  # paid in full before the worker ran
    env.drain_all(max_rounds=5)
    assert env.link(invoice_id) is not None and env.xero_invoice_of(invoice_id).status == "PAID"


def test_follow_ups_leave_part_of_the_minute_for_money(env):
    """Online-invoice links (one call each) stop at their share of the budget; a card
    payment queued behind them still reaches Xero in the same minute."""
    env.service.per_minute = 9  # follow-ups may use 6 of them
    customer_id = env.add_customer(name="Acme")
    invoice_ids = [env.issue(customer_id) for _ in range(8)]
    worker = env.worker()
    worker.drain()
    links = [j for j in env.jobs() if j.kind == JobKind.ONLINE_INVOICE]
    assert len(links) == 8
    waiting = [j for j in links if j.status == JobStatus.PENDING]
    assert waiting and len(waiting) < 8  # some links went, the rest wait for the next minute
    calls = sum(env.service.counter.by_method.values())
    assert calls == 6  # the follow-ups stopped at their share, three calls short of the limit

    env.card_payment(invoice_ids[0])
    worker.drain()

    [payment_job] = env.payment_jobs()
    assert payment_job.status == JobStatus.DONE, (
        payment_job.last_error,
        env.service.counter.by_method,
    )
    assert env.xero_invoice_of(invoice_ids[0]).status == "PAID"
