"""Payments made in Xero reach the portal: through Xero's webhooks (the sandbox's signed
deliveries to the served portal's POST /webhooks/xero, then the job runner's inbox step,
which re-reads the invoice), and through the poller when a webhook was lost."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing import inbox
from billing.invoices.model import Payment
from tests.xero.builders import create_contact, create_invoice
from tests.xero.payments_env import PaymentEnv
from xero.api.client import XeroApi
from xero.models import JobStatus
from xero.sync.inbound import events


@pytest.fixture
def env_class():
    return PaymentEnv


def test_a_part_payment_in_xero_leaves_the_invoice_awaiting_payment(env, portal_webhooks):
    invoice_id = env.issue_in_xero()  # 89.82
    xero_id = env.pay_in_xero(invoice_id, "30.00", reference="BACS 1234")

    env.handle_webhooks()

    assert {e.status for e in env.events()} == {"done"}
    [payment] = env.payments(invoice_id)
    assert (payment.source, payment.method, payment.reference) == ("xero", "xero", "BACS 1234")
    assert payment.xero_payment_id.lower() == xero_id.lower()
    assert payment.amount == Decimal("30.00")
    assert payment.paid_on.isoformat() == "2026-11-06"
    invoice = env.invoice(invoice_id)
    assert invoice.status == "awaiting_payment"
    assert invoice.amount_due == Decimal("59.82") == env.xero_invoice_of(invoice_id).amount_due
    assert env.payment_jobs() == []  # a payment from Xero is not written back


def test_a_full_payment_in_xero_marks_the_invoice_paid_through_a_stored_event(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    env.handle_webhooks()  # the invoice's own CREATE event: nothing to record
    env.pay_in_xero(invoice_id, "89.82")

    assert env.handle_webhooks() == 1

    assert {e.status for e in env.events()} == {"done"}
    invoice = env.invoice(invoice_id)
    assert invoice.status == "paid" and invoice.amount_due == 0
    assert env.link(invoice_id).xero_status == "PAID"


def test_events_twice_or_late_record_the_payment_once(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    env.pay_in_xero(invoice_id, "10.00")
    env.handle_webhooks()
    stored = len(env.events())

    # Xero delivers the payment's webhook again: the same event, stored once.
    again = env.sandbox.webhooks.deliveries[-1]
    answer = portal_webhooks.test_client().post(
        "/webhooks/xero",
        data=again.body,
        headers={"Content-Type": "application/json", "x-xero-signature": again.signature},
    )
    assert answer.status_code == 200 and len(env.events()) == stored
    # And a later event for the same invoice: the payment is already recorded.
    env.advance(60)
    xero_invoice_id = env.link(invoice_id).xero_invoice_id
    env.sandbox.webhooks.invoice_events(env.org.tenant_id, [(xero_invoice_id, "UPDATE")])
    assert env.handle_webhooks() == 1

    assert len(env.payments(invoice_id)) == 1
    assert env.invoice(invoice_id).amount_paid == Decimal("10.00")


def test_a_payment_deleted_in_xero_is_reversed_in_the_portal(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    xero_id = env.pay_in_xero(invoice_id, "89.82")
    env.handle_webhooks()
    assert env.invoice(invoice_id).status == "paid"

    env.delete_in_xero(xero_id)
    env.handle_webhooks()

    [payment] = env.payments(invoice_id)
    assert payment.reversed_at is not None
    invoice = env.invoice(invoice_id)
    assert invoice.status == "awaiting_payment" and invoice.amount_due == Decimal("89.82")


def test_a_replaced_payment_in_xero_ends_with_the_new_amount(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    first = env.pay_in_xero(invoice_id, "50.00")
    env.handle_webhooks()
    env.delete_in_xero(first)
    env.pay_in_xero(invoice_id, "89.82", reference="corrected")
    env.handle_webhooks()  # one read sees the deletion and the new payment at once
    assert env.invoice(invoice_id).status == "paid"
    assert sorted(p.net_amount for p in env.payments(invoice_id)) == [0, Decimal("89.82")]


def test_an_invoice_voided_in_xero_is_voided_in_the_portal(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    env.void_in_xero(invoice_id)
    env.handle_webhooks()
    assert env.invoice(invoice_id).status == "voided"
    assert env.link(invoice_id).xero_status == "VOIDED"
    env.drain_all()  # the portal's void job finds Xero already voided
    assert {j.status for j in env.jobs()} == {JobStatus.DONE}


def test_an_event_for_an_invoice_the_portal_never_sent_is_acknowledged(
    env, portal_webhooks, accounting_api
):
    env.issue_in_xero()
    env.handle_webhooks()
    calls = env.service.counter.calls
    # An invoice entered in Xero by hand: Xero's webhook names it, the portal never sent it.
    contact = create_contact(accounting_api, name="Walk-in customer")
    create_invoice(accounting_api, contact.contact_id)

    assert env.handle_webhooks() == 1

    assert {e.status for e in env.events()} == {"done"}
    assert env.service.counter.calls == calls  # not even read from Xero
    with env.Session() as db:
        assert db.query(Payment).count() == 0


def test_an_event_for_another_organisation_is_acknowledged(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    env.handle_webhooks()
    env.pay_in_xero(invoice_id, "10.00")  # its webhook waits in the inbox while
    env.switch_organisation()  # an admin connects the portal to another organisation
    calls = env.service.counter.calls

    assert env.handle_webhooks() == 1

    assert {e.status for e in env.events()} == {"done"}
    assert env.service.counter.calls == calls
    assert env.payments(invoice_id) == []


def test_a_portal_payment_read_back_from_xero_is_recorded_once(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    payment_id = env.card_payment(invoice_id, "40.00")
    env.drain_all()  # the push: Xero's webhook for it comes back
    env.handle_webhooks()
    [payment] = env.payments(invoice_id)
    assert payment.id == payment_id and payment.source == "portal"
    assert env.invoice(invoice_id).amount_paid == Decimal("40.00")


def test_a_portal_payment_whose_push_answer_was_lost_is_recognised_by_its_reference(
    env, portal_webhooks
):
    invoice_id = env.issue_in_xero()
    payment_id = env.card_payment(invoice_id, "40.00")
    env.sandbox.faults.add("drop", method="PUT", path="/api.xro/2.0/Payments*")
    env.worker().run_once()
    assert env.payment(payment_id).xero_payment_id is None
    [xero_payment] = env.xero_payments_of(invoice_id)

    env.handle_webhooks()  # Xero's webhook for the payment arrives first

    [payment] = env.payments(invoice_id)
    assert payment.xero_payment_id.lower() == xero_payment.payment_id.lower()
    env.advance(3600)
    env.drain_all()
    assert len(env.xero_payments_of(invoice_id)) == 1
    assert {j.status for j in env.payment_jobs()} == {JobStatus.DONE}


def test_a_card_payment_deleted_in_xero_is_recorded_there_again(env, portal_webhooks):
    invoice_id = env.issue_in_xero()
    payment_id = env.card_payment(invoice_id)
    env.drain_all()
    env.delete_in_xero(env.payment(payment_id).xero_payment_id)

    env.handle_webhooks()
    assert env.payment(payment_id).reversed_at is None  # the card money was taken
    env.drain_all()

    [again] = env.xero_payments_of(invoice_id)
    assert env.payment(payment_id).xero_payment_id.lower() == again.payment_id.lower()
    assert env.xero_invoice_of(invoice_id).status == "PAID"


def test_nothing_comes_in_when_payments_in_is_off(env, portal_webhooks):
    env.set_settings(sync_payments_in=False)
    invoice_id = env.issue_in_xero()
    env.pay_in_xero(invoice_id, "10.00")
    calls = env.service.counter.calls

    env.handle_webhooks()

    assert {e.status for e in env.events()} == {"done"}
    assert env.service.counter.calls == calls  # the invoice is not even read
    assert env.pull() == 0
    assert env.payments(invoice_id) == []


# -- the poller --------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch):
    """Every Xero call the portal makes, with its arguments."""
    seen: list[tuple[str, dict]] = []
    real = XeroApi._send

    def spy(self, method, *args, **kwargs):
        seen.append((method.__name__, kwargs))
        return real(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroApi, "_send", spy)
    return seen


def test_the_poller_catches_a_payment_whose_webhook_was_lost(env, calls):
    invoice_id = env.issue_in_xero()
    env.pay_in_xero(invoice_id, "89.82")

    assert env.pull() == 1

    assert env.invoice(invoice_id).status == "paid"
    [payment] = env.payments(invoice_id)
    assert payment.source == "xero"
    pulled_at = env.settings().last_pulled_at
    assert pulled_at is not None and pulled_at.tzinfo is not None
    since = dict(calls)["get_invoices"]["if_modified_since"]
    assert since.tzinfo is not None  # If-Modified-Since is a moment, not a wall-clock time


def test_the_poller_reads_only_what_changed_since_the_last_pull(env, calls):
    invoice_id = env.issue_in_xero()
    env.advance(600)
    assert env.pull() == 1
    env.advance(600)
    calls.clear()

    assert env.pull() == 0
    invoice_reads = [kw for method, kw in calls if method == "get_invoices"]
    assert len(invoice_reads) == 1
    assert invoice_reads[0]["if_modified_since"] >= env.clock() - timedelta(minutes=15)

    env.pay_in_xero(invoice_id, "10.00")
    assert env.pull() == 1
    assert env.invoice(invoice_id).amount_paid == Decimal("10.00")


def test_the_poller_reads_page_after_page(env, calls):
    customer_id = env.add_customer(name="Acme")
    invoices = [env.issue(customer_id) for _ in range(5)]
    env.drain_all()
    for invoice_id in invoices:
        env.pay_in_xero(invoice_id, "89.82")

    assert env.pull(page_size=2) == 5

    pages = [kw["page"] for method, kw in calls if method == "get_invoices"]
    assert pages == [1, 2, 3]  # 2 + 2 + 1: a short page ends the reading
    assert all(env.invoice(i).status == "paid" for i in invoices)


def test_the_job_runner_pulls_every_five_minutes(env, calls):
    runner = env.runner()
    runner.run_once()
    runner.run_once()
    assert [m for m, _ in calls].count("get_invoices") == 1
    env.advance(301)
    runner.run_once()
    assert [m for m, _ in calls].count("get_invoices") == 2


def test_xero_echoing_a_card_payment_is_read_with_the_next_news(env, portal_webhooks, calls):
    echoed = env.issue_in_xero()
    news = env.issue_in_xero()
    env.handle_webhooks()  # the invoices' own CREATE events
    env.card_payment(echoed)  # in full: paid in the portal by its own payment
    env.drain_all()  # the push: Xero's webhook for it comes back
    assert env.sandbox.webhooks.wait(5)
    [echo] = [e for e in env.events() if e.status == "pending"]
    assert echo.next_attempt_at - echo.received_at >= events.ECHO_HOLD - timedelta(seconds=1)
    before_hold_ends = echo.next_attempt_at - timedelta(seconds=1)
    assert inbox.process_due(env.Session, env.handlers, now=lambda: before_hold_ends) == 0

    env.pay_in_xero(news, "89.82")  # news: a payment made in Xero, read at once
    assert env.sandbox.webhooks.wait(5)
    calls.clear()
    assert inbox.process_due(env.Session, env.handlers, now=env.service.clock) == 1

    # One read for both: the echo rode along with the news.
    reads = [kw["i_ds"] for method, kw in calls if method == "get_invoices"]
    assert len(reads) == 1 and len(reads[0]) == 2
    assert {e.status for e in env.events()} == {"done"}
    assert env.invoice(news).status == "paid"
    assert [p.source for p in env.payments(echoed)] == ["portal"]


def test_an_event_for_an_invoice_paid_by_a_card_payment_not_sent_yet_is_read_at_once(
    env, portal_webhooks
):
    """Paid by card in the portal, the payment not in Xero yet, and paid again in Xero: news
    (a double payment), not an echo, so it is not held."""
    invoice_id = env.issue_in_xero()
    env.handle_webhooks()
    env.card_payment(invoice_id)  # in full; its PAYMENT job has not run
    env.pay_in_xero(invoice_id, "89.82")
    assert env.sandbox.webhooks.wait(5)
    [event] = [e for e in env.events() if e.status == "pending"]
    assert (event.next_attempt_at - event.received_at).total_seconds() < 1
