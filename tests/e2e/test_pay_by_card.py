"""A member pays an invoice by card in a real browser, through localstripe's Stripe.js
stand-in; localstripe's signed webhook reaches the portal, the job runner handles it, and
the invoice shows Paid. Declines and 3-D Secure go through the same page.

The session's live server (tests/e2e/conftest.py) has no Stripe settings, so this module
serves its own, configured for localstripe, beside it (same seed, its own database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from billing.customers import Customer
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.tax import LineAmountType
from portal import migrations
from portal.worker import job_runner
from portal.xero_setup import connect_demo, start_demo_sandbox
from tests import localstripe as stripe_stand_in
from tests.conftest import make_test_app
from tests.e2e.conftest import LiveServer, _seed
from tests.factories import add_service, standard_rate
from tests.localstripe import CARD_3DS, CARD_DECLINED_ON_CHARGE, CARD_OK, WEBHOOK_SECRET

pytestmark = pytest.mark.browser

localstripe = stripe_stand_in.localstripe


@pytest.fixture(scope="module")
def stripe_server(fresh_database_url, localstripe) -> Iterator[tuple[LiveServer, object]]:
    database_url = fresh_database_url("e2e_pay")
    migrations.upgrade(database_url)
    seed = _seed(database_url)
    app = make_test_app(
        database_url, XERO_SANDBOX_PORT=0, **stripe_stand_in.stripe_app_settings(localstripe)
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Xero too, as in the demo: the card payment must reach it, with Stripe's reference.
    start_demo_sandbox(app, server.server_port)
    app.extensions["xero_sandbox"].rate_limiter.configure(enabled=False)
    with Session(app.extensions["db_engine"], expire_on_commit=False) as db:
        connect_demo(db, app, None)
        db.commit()
    thread = threading.Thread(target=server.serve_forever, name="e2e-pay-server", daemon=True)
    thread.start()
    live = LiveServer(url=f"http://127.0.0.1:{server.server_port}", seed=seed)
    # localstripe signs its events with this secret and posts them to the portal.
    localstripe.send_webhooks_to(f"{live.url}/webhooks/stripe", WEBHOOK_SECRET, name="e2e-pay")
    try:
        yield live, app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["xero_sandbox_stop"]()
        app.extensions["db_engine"].dispose()


def issue(app, seed, unit_price: str) -> Invoice:
    # The app's own session: issuing reaches its outbox, so the invoice goes to Xero.
    with app.extensions["db_session_factory"]() as db, db.begin():
        customer = db.scalar(select(Customer).where(Customer.name == seed.customer_name))
        rate = standard_rate(db, seed.tax_rate_name)
        service = add_service(db, rate=rate, name="Hot desk (day)", unit_price=Decimal(unit_price))
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
        return issue_invoice(db, draft, prefix="PAY-", today=date.today())


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def fill_card(page: Page, number: str) -> None:
    """localstripe's Card Element: plain inputs named by their placeholders."""
    element = page.get_by_test_id("card-element")
    expect(element.get_by_placeholder("number")).to_be_visible()
    element.get_by_placeholder("number").fill(number)
    element.get_by_placeholder("exp_month").fill("12")
    element.get_by_placeholder("exp_year").fill("34")
    element.get_by_placeholder("cvc").fill("123")
    element.get_by_placeholder("postal_code").fill("EC1A 1BB")


def run_worker_until_paid(app, invoice_id: int, timeout: float = 15) -> None:
    """Let the job runner handle what arrives (localstripe's webhook comes about a second
    after the charge) until the invoice is paid."""
    runner = job_runner(app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.run_once()
        with Session(app.extensions["db_engine"]) as db:
            if db.get(Invoice, invoice_id).status == "paid":
                return
        time.sleep(0.2)
    with Session(app.extensions["db_engine"]) as db:
        events = db.execute(select(InboundEvent.event_type, InboundEvent.status)).all()
    raise AssertionError(f"invoice {invoice_id} not paid within {timeout} s; inbox: {events}")


def gbp(amount: Decimal) -> str:
    return format_currency(amount, "GBP", locale="en_GB")


def test_member_pays_by_card_and_the_webhook_marks_the_invoice_paid(
    page: Page, stripe_server, tmp_path
):
    live, app = stripe_server
    invoice = issue(app, live.seed, "37.50")  # 37.50 + 7.50 tax
    due = gbp(Decimal("45.00"))
    sign_in(page, live.url, live.seed.member.email, live.seed.member.password)

    page.goto(f"{live.url}/invoices/{invoice.id}")
    page.get_by_role("link", name=f"Pay {due} by card").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay invoice {invoice.number}")
    expect(page.get_by_test_id("amount-due")).to_have_text(due)
    fill_card(page, CARD_OK)
    page.screenshot(path=str(tmp_path / "pay_by_card.png"), full_page=True)
    page.get_by_role("button", name=f"Pay {due}").click()

    # Back on the invoice: accepted, and waiting for Stripe's word.
    expect(page.get_by_test_id("card-payment-processing")).to_contain_text(
        "Card payment processing"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Awaiting payment")
    page.screenshot(path=str(tmp_path / "processing.png"), full_page=True)

    run_worker_until_paid(app, invoice.id)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
    expect(page.get_by_test_id("amount-due")).to_have_text(gbp(Decimal("0")))
    expect(page.get_by_role("cell", name="card", exact=True)).to_be_visible()
    expect(page.get_by_test_id("card-payment-processing")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "paid_by_card.png"), full_page=True)
    print(f"Screenshots of the pay page and the paid invoice: {tmp_path}")

    # ...and PAID in Xero (the sandbox), with the Stripe charge as the payment's reference.
    with Session(app.extensions["db_engine"]) as db:
        [payment] = db.get(Invoice, invoice.id).payments
        reference = payment.reference
    assert reference.startswith("ch_")
    sandbox = app.extensions["xero_sandbox"]
    [org] = sandbox.organisations.values()
    runner = job_runner(app)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        runner.run_once()
        twin = next((x for x in org.invoices.values() if x.invoice_number == invoice.number), None)
        if twin is not None and twin.status == "PAID":
            break
        time.sleep(0.2)
    assert twin is not None and twin.status == "PAID", twin
    in_xero = [p for p in org.payments.values() if p.invoice_id == twin.invoice_id]
    assert [(p.amount, p.reference) for p in in_xero] == [(Decimal("45.00"), reference)]


def test_a_declined_card_shows_the_message_and_nothing_changes(page: Page, stripe_server):
    live, app = stripe_server
    invoice = issue(app, live.seed, "10.00")
    due = gbp(Decimal("12.00"))
    sign_in(page, live.url, live.seed.member.email, live.seed.member.password)
    page.goto(f"{live.url}/invoices/{invoice.id}/pay")
    fill_card(page, CARD_DECLINED_ON_CHARGE)
    page.get_by_role("button", name=f"Pay {due}").click()
    expect(page.locator("#card-errors")).to_have_text(
        "Your card was declined. You can try 4 more times."
    )
    expect(page.get_by_role("button", name=f"Pay {due}")).to_be_enabled()
    page.goto(f"{live.url}/invoices/{invoice.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Awaiting payment")
    expect(page.get_by_test_id("amount-due")).to_have_text(due)
    expect(page.get_by_test_id("card-payment-failed")).to_contain_text("Your card was declined.")


def test_three_d_secure_is_completed_on_the_page(page: Page, stripe_server):
    live, app = stripe_server
    invoice = issue(app, live.seed, "20.00")
    due = gbp(Decimal("24.00"))
    sign_in(page, live.url, live.seed.member.email, live.seed.member.password)
    page.goto(f"{live.url}/invoices/{invoice.id}/pay")
    fill_card(page, CARD_3DS)
    page.get_by_role("button", name=f"Pay {due}").click()
    # localstripe's 3-D Secure dialog, once for the card's setup and once for the payment.
    for _ in range(2):
        page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_test_id("card-payment-processing")).to_be_visible()
    run_worker_until_paid(app, invoice.id)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
