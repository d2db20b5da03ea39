"""A member pays one invoice twice, by card in the portal and with "Pay now" on Xero's online
invoice, in both orders, through the production paths: the member's /pay/card against
localstripe, Stripe's signed event posted to /webhooks/stripe, the sandbox's real Pay now and
its signed webhook to /webhooks/xero, the job runner, and the admin's pages.

Each time the second payment is held as an overpayment (never dropped): it is on the admin's
"Needs attention" list, the member is told, and the admin's decision resolves it with both
books agreeing (``check_ledgers``): a refund in localstripe, or credit recorded in Xero as a
RECEIVE-OVERPAYMENT on the customer's contact.

No browser: the pages are asked for over HTTP with the test client, as in tests/portal.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from billing import inbox
from billing.customers import Customer
from billing.invoices.model import Invoice, Payment
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.payments.overpayments import Overpayment
from billing.tax import LineAmountType
from portal import migrations
from portal.worker import job_runner
from portal.xero_setup import connect_demo, start_demo_sandbox
from tests import localstripe as stripe_stand_in
from tests.conftest import login, make_test_app
from tests.e2e.conftest import Seed, _seed
from tests.factories import add_service, standard_rate
from tests.localstripe import event_body, signature_header
from xero.admin.ledger_check import check_ledgers
from xero.models import XeroInvoiceLink
from xero_sandbox.contract import ContractChecker

localstripe = stripe_stand_in.localstripe

WAIT_SECONDS = 30


@dataclass
class World:
    app: object
    sandbox: object
    sessions: sessionmaker
    seed: Seed
    runner: object


@pytest.fixture(scope="module")
def world(fresh_database_url, localstripe) -> Iterator[World]:
    database_url = fresh_database_url("e2e_twice")
    migrations.upgrade(database_url)
    seed = _seed(database_url)
    app = make_test_app(
        database_url, XERO_SANDBOX_PORT=0, **stripe_stand_in.stripe_app_settings(localstripe)
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    start_demo_sandbox(app, server.server_port)
    sandbox = app.extensions["xero_sandbox"]
    sandbox.contract = ContractChecker.load()
    sandbox.rate_limiter.configure(enabled=False)
    sessions = sessionmaker(
        app.extensions["db_engine"],
        expire_on_commit=False,
        info=app.extensions["event_bus"].session_info(),  # the app's outbox hears them
    )
    with sessions() as db:
        connect_demo(db, app, None)
        db.commit()
    thread = threading.Thread(target=server.serve_forever, name="e2e-twice", daemon=True)
    thread.start()
    try:
        yield World(app, sandbox, sessions, seed, job_runner(app))
        violations = "\n".join(f"  {v}" for v in sandbox.contract_violations)
        assert not violations, f"traffic Xero's OpenAPI description rejects:\n{violations}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["xero_sandbox_stop"]()
        app.extensions["db_engine"].dispose()


def _wait_for(what: str, check):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _issue(world: World) -> tuple[int, str, Decimal, str]:
    """An invoice of 74.86, sent to Xero (with its online link) by the job runner."""
    with world.sessions() as db, db.begin():
        rate = standard_rate(db, world.seed.tax_rate_name)
        customer = db.scalar(select(Customer).where(Customer.name == world.seed.customer_name))
        service = add_service(db, rate=rate, unit_price=Decimal("62.38"))
        draft = create_draft(
            db,
            DraftDetails(
                customer_id=customer.id,
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=date.today(),
                lines=[DraftLine(service.id, service.name, Decimal("1"), service.unit_price)],
            ),
        )
        invoice = issue_invoice(db, draft, prefix="TWICE-", today=date.today())
        ids = invoice.id, invoice.number, invoice.total
    world.runner.drain()
    with world.sessions() as db:
        link = db.get(XeroInvoiceLink, ids[0])
        assert link is not None and link.xero_invoice_id
        return (*ids, link.xero_invoice_id)


def _member(world: World):
    client = world.app.test_client()
    login(client, world.seed.member.email, world.seed.member.password)
    return client


def _admin(world: World):
    client = world.app.test_client()
    login(client, world.seed.admin.email, world.seed.admin.password)
    return client


def _pay_by_card(world: World, localstripe, invoice_id: int, total: Decimal) -> str:
    """The member pays on the portal's pay page; Stripe takes the money. Its event is not
    delivered yet (the test posts it when the race wants it)."""
    answer = _member(world).post_form(
        f"/invoices/{invoice_id}/pay/card",
        {"payment_method": localstripe.card_payment_method(), "amount": str(total)},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    # Taken; the portal waits for Stripe's event to record it.
    assert answer.get_json()["status"] == "processing"
    [intent] = localstripe.payment_intents_for(invoice_id)
    assert intent["status"] == "succeeded"
    return intent["id"]


def _post_stripe_event(world: World, intent_id: str) -> None:
    body = event_body("payment_intent.succeeded", {"id": intent_id, "object": "payment_intent"})
    answer = world.app.test_client().post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": signature_header(body), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200


def _pay_now(world: World, xero_invoice_id: str) -> str:
    """The member pays on Xero's online invoice; the sandbox sends its signed webhook."""
    before = len(world.sandbox.webhooks.deliveries)
    request = urllib.request.Request(  # noqa: S310 - the sandbox on loopback
        f"{world.app.config['XERO_BASE_URL']}/_sandbox/invoices/{xero_invoice_id}/pay",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        reference = json.load(response)["reference"]
    _wait_for(
        "the Pay now webhook to reach the portal",
        lambda: [
            d
            for d in world.sandbox.webhooks.deliveries[before:]
            if d.done.is_set() and d.status == 200
        ],
    )
    return reference


def _state(world: World, invoice_id: int) -> tuple[Invoice, list[Payment], list[Overpayment]]:
    with world.sessions() as db:
        invoice = db.get(Invoice, invoice_id)
        payments = list(invoice.payments)
        found = list(db.scalars(select(Overpayment).where(Overpayment.invoice_id == invoice_id)))
        for o in found:
            _ = o.payment
        return invoice, payments, found


def _ledgers_agree(world: World) -> None:
    with world.sessions() as db:
        result = check_ledgers(db, world.app.extensions["xero"].api(db))
        db.commit()
    assert result.mismatches == [] and result.portal_violations == []


def _race(world: World, localstripe, card_first: bool):
    """Both payments land; returns the invoice, the card's PaymentIntent and Xero's
    reference of the Pay now payment."""
    invoice_id, number, total, xero_id = _issue(world)
    intent_id = _pay_by_card(world, localstripe, invoice_id, total)
    if card_first:
        _post_stripe_event(world, intent_id)
        # The runner's webhook step: the card payment is recorded, and the Pay now below
        # comes before the runner's next step would write it to Xero (the race).
        service = world.app.extensions["xero"]
        inbox.process_due(service.session_factory, world.runner.handlers, now=service.clock)
        assert _state(world, invoice_id)[0].status == "paid"
        reference = _pay_now(world, xero_id)
        world.runner.drain()
    else:
        reference = _pay_now(world, xero_id)
        world.runner.drain()
        assert _state(world, invoice_id)[0].status == "paid"
        _post_stripe_event(world, intent_id)
        world.runner.drain()
    return invoice_id, number, total, intent_id, reference


def _shows_the_double_payment(world, invoice_id, number, total, intent_id, reference):
    invoice, payments, [overpayment] = _state(world, invoice_id)
    card = next(p for p in payments if p.gateway_payment_id == intent_id)
    pay_now = next(p for p in payments if p.source == "xero")
    # Xero applied its Pay now; the card payment it doubled is held, never sent to Xero.
    assert (invoice.status, invoice.amount_paid) == ("paid", total)
    assert (pay_now.held, pay_now.reference, pay_now.net_amount) == (False, reference, total)
    assert (card.held, card.amount, card.xero_payment_id) == (True, total, None)
    assert (overpayment.payment_id, overpayment.status, overpayment.amount) == (
        card.id,
        "open",
        total,
    )
    _ledgers_agree(world)

    admin = _admin(world)
    home = admin.get("/admin/").get_data(as_text=True)
    assert 'data-testid="needs-attention-count">1<' in home
    page = admin.get("/admin/needs-attention").get_data(as_text=True)
    assert number in page
    assert f"Stripe charge <code>{card.gateway_charge_id}</code>" in page
    assert f"Xero online invoice Pay now · reference <code>{reference}</code>" in page
    assert "£74.86" in page
    member = _member(world).get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "You paid this invoice twice; the extra £74.86 will be refunded" in member
    return admin, overpayment, card


@pytest.mark.parametrize("card_first", [True, False], ids=["card-first", "pay-now-first"])
def test_a_double_payment_is_held_listed_told_and_refunded_once(world, localstripe, card_first):
    invoice_id, number, total, intent_id, reference = _race(world, localstripe, card_first)
    admin, overpayment, card = _shows_the_double_payment(
        world, invoice_id, number, total, intent_id, reference
    )

    url = f"/admin/needs-attention/{overpayment.id}/refund"
    confirm = admin.get(url)
    assert confirm.status_code == 200 and "Refund £74.86 to the card?" in confirm.get_data(
        as_text=True
    )
    assert admin.post(url).status_code == 400  # no CSRF token: refused, nothing refunded
    assert admin.post_form(url).status_code == 302
    assert admin.post_form(url).status_code == 302  # a double click refunds once
    refunds = localstripe.api("GET", "/v1/refunds", limit=100)["data"]
    mine = [r for r in refunds if r.get("payment_intent") == intent_id]
    assert [r["amount"] for r in mine] == [7486]
    charge = localstripe.api("GET", f"/v1/charges/{card.gateway_charge_id}")
    assert charge["amount_refunded"] == 7486

    world.runner.drain()
    invoice, payments, [done] = _state(world, invoice_id)
    assert done.status == "refunded" and done.refund_payment_id == card.id
    assert (invoice.status, invoice.amount_paid) == ("paid", total)
    assert [(p.source, p.net_amount) for p in payments if p.net_amount > 0] == [("xero", total)]
    _ledgers_agree(world)
    assert 'data-testid="needs-attention-count">0<' in admin.get("/admin/").get_data(as_text=True)
    member = _member(world).get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "You paid this invoice twice; the extra £74.86 was refunded to your card." in member


def test_keeping_a_double_payment_as_credit_records_it_in_xero(world, localstripe):
    invoice_id, number, total, intent_id, reference = _race(world, localstripe, card_first=True)
    admin, overpayment, card = _shows_the_double_payment(
        world, invoice_id, number, total, intent_id, reference
    )

    url = f"/admin/needs-attention/{overpayment.id}/credit"
    assert "Keep £74.86 as credit?" in admin.get(url).get_data(as_text=True)
    assert admin.post_form(url).status_code == 302
    assert admin.post_form(url).status_code == 302  # twice: one credit
    world.runner.drain()

    invoice, payments, [done] = _state(world, invoice_id)
    assert done.status == "kept_as_credit" and done.xero_overpayment_id
    org = next(iter(world.sandbox.organisations.values()))
    with Session(world.app.extensions["db_engine"]) as db:
        contact_id = db.scalar(
            select(Customer.xero_contact_id).where(Customer.name == world.seed.customer_name)
        )
    credits = [t for t in org.bank_transactions.values() if t.type == "RECEIVE-OVERPAYMENT"]
    mine = [t for t in credits if t.overpayment_id == done.xero_overpayment_id]
    assert [(t.amount, t.reference, t.contact_id) for t in mine] == [
        (total, card.gateway_charge_id, contact_id)
    ]
    assert localstripe.api("GET", f"/v1/charges/{card.gateway_charge_id}")["amount_refunded"] == 0
    _ledgers_agree(world)
    member = _member(world).get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "the extra £74.86 is kept as credit on your account" in member
