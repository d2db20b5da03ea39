"""A member pays on Xero's online invoice, in a real browser: the portal's "Pay online via
Xero" opens the sandbox's online invoice, "Pay now" pays it through the linked Stripe service,
the sandbox's signed webhook reaches the live portal, the job runner re-reads the invoice from
Xero, and the member's invoice shows Paid.

The portal and the sandbox are wired as in the demo (``start_demo_sandbox`` and
``connect_demo``): the sandbox posts its webhooks to the portal's /webhooks/xero with the key
in XERO_WEBHOOK_KEY. Contract checking is on for the sandbox's traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import make_server

from billing.customers import Customer
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.tax import LineAmountType
from portal import migrations
from portal.worker import job_runner
from portal.xero_setup import connect_demo, start_demo_sandbox
from tests.conftest import make_test_app
from tests.e2e.conftest import Seed, _seed
from tests.e2e.test_browser import gbp, sign_in
from tests.factories import add_service, standard_rate
from tests.xero.conftest import fail_in_ci_without_openapi
from xero.models import XeroInvoiceLink
from xero_sandbox.contract import ContractChecker

pytestmark = pytest.mark.browser

WEBHOOK_KEY = "e2e-xero-webhook-key"
#: How long the sync (push, online link, webhook, runner) may take on a loaded machine.
WAIT_SECONDS = 30


@dataclass
class XeroPortal:
    url: str
    seed: Seed
    sessions: sessionmaker
    sandbox: object
    invoice_id: int
    invoice_number: str
    total: Decimal


def _wait_for(what: str, check, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _issue_invoice(sessions: sessionmaker, seed: Seed) -> tuple[int, str, Decimal]:
    with sessions() as db, db.begin():
        rate = standard_rate(db, seed.tax_rate_name)
        service = add_service(
            db, rate=rate, code="DESK-E2E", name="Hot desk (day)", unit_price=Decimal("24.95")
        )
        customer = db.scalar(select(Customer).where(Customer.name == seed.customer_name))
        draft = create_draft(
            db,
            DraftDetails(
                customer_id=customer.id,
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=date.today(),
                lines=[DraftLine(service.id, service.name, Decimal("3"), service.unit_price)],
            ),
        )
        issue_invoice(db, draft, prefix="INV-", today=date.today())
        return draft.id, draft.number, draft.total


@pytest.fixture(scope="module")
def xero_portal(fresh_database_url) -> Iterator[XeroPortal]:
    fail_in_ci_without_openapi()
    database_url = fresh_database_url("e2e_xero")
    migrations.upgrade(database_url)
    seed = _seed(database_url)
    app = make_test_app(database_url, XERO_SANDBOX_PORT=0, XERO_WEBHOOK_KEY=WEBHOOK_KEY)
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
    invoice_id, number, total = _issue_invoice(sessions, seed)

    web = threading.Thread(target=server.serve_forever, name="e2e-xero-portal", daemon=True)
    web.start()
    stop = threading.Event()
    runner = job_runner(app)

    def run() -> None:
        while not stop.is_set():
            try:
                if not runner.run_once():
                    stop.wait(0.2)
            except Exception as error:  # the test's own waits report what went missing
                print(f"job runner round failed: {error!r}")
                stop.wait(0.5)

    worker = threading.Thread(target=run, name="e2e-xero-runner", daemon=True)
    worker.start()
    try:
        yield XeroPortal(
            url=f"http://127.0.0.1:{server.server_port}",
            seed=seed,
            sessions=sessions,
            sandbox=sandbox,
            invoice_id=invoice_id,
            invoice_number=number,
            total=total,
        )
        violations = "\n".join(f"  {v}" for v in sandbox.contract_violations)
        assert not violations, f"traffic Xero's OpenAPI description rejects:\n{violations}"
    finally:
        stop.set()
        worker.join(timeout=10)
        server.shutdown()
        server.server_close()
        web.join(timeout=10)
        app.extensions["xero_sandbox_stop"]()
        app.extensions["db_engine"].dispose()


def _online_link(portal: XeroPortal) -> str:
    with portal.sessions() as db:
        link = db.get(XeroInvoiceLink, portal.invoice_id)
        return link.online_invoice_url if link is not None else ""


def _status(portal: XeroPortal) -> str:
    with portal.sessions() as db:
        return db.get(Invoice, portal.invoice_id).status


def test_member_pays_now_on_xero_s_online_invoice_and_the_portal_shows_it_paid(
    page: Page, xero_portal: XeroPortal
):
    portal = xero_portal
    due = gbp(portal.total)
    assert due == "£89.82"
    online_url = _wait_for("the invoice's online link from Xero", lambda: _online_link(portal))

    # --- The member opens the invoice in the portal: awaiting payment, payable via Xero.
    sign_in(page, portal.url, portal.seed.member.email, portal.seed.member.password)
    page.goto(f"{portal.url}/invoices/{portal.invoice_id}")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Invoice {portal.invoice_number}")
    expect(heading).to_contain_text("Awaiting payment")
    expect(page.get_by_test_id("amount-due")).to_have_text(due)
    xero_link = page.get_by_role("link", name="Pay online via Xero")
    expect(xero_link).to_have_attribute("href", online_url)

    # --- Xero's online invoice (the sandbox's page) opens in a new tab; the member pays.
    with page.expect_popup() as popup:
        xero_link.click()
    online = popup.value
    expect(online.get_by_test_id("invoice-number")).to_have_text(portal.invoice_number)
    expect(online.get_by_test_id("amount-due")).to_have_text(f"{portal.total}")
    online.get_by_role("button", name="Pay now").click()
    expect(online.get_by_role("status")).to_contain_text("Thank you: payment ch_")
    expect(online.get_by_test_id("invoice-status")).to_have_text("PAID")
    expect(online.get_by_test_id("paid-in-full")).to_be_visible()
    online.close()

    # --- The sandbox's signed webhook reached the portal, and the runner handled it.
    delivered = _wait_for(
        "the Pay now webhook delivery",
        lambda: [
            d
            for d in portal.sandbox.webhooks.deliveries
            if d.done.is_set() and d.status == 200 and '"UPDATE"' in d.body.decode()
        ],
    )
    assert delivered
    _wait_for("the invoice to be paid in the portal", lambda: _status(portal) == "paid")
    with portal.sessions() as db:
        events = list(db.scalars(select(InboundEvent).where(InboundEvent.provider == "xero")))
        invoice = db.get(Invoice, portal.invoice_id)
        [payment] = invoice.payments
    assert events and all(e.status == "done" for e in events)
    assert (payment.source, payment.method) == ("xero", "xero")
    assert payment.reference.startswith("ch_")

    # --- The member's invoice shows Paid, with the payment from Xero.
    page.reload()
    expect(heading).to_contain_text("Paid")
    expect(page.get_by_test_id("amount-due")).to_have_text(gbp(Decimal("0")))
    payments = page.get_by_role("row").filter(has_text=payment.reference)
    expect(payments).to_contain_text(due)
    expect(page.get_by_role("link", name="Pay online via Xero")).to_have_count(0)
    page.goto(f"{portal.url}/invoices/paid")
    expect(
        page.get_by_role("row").filter(
            has=page.get_by_role("link", name=portal.invoice_number, exact=True)
        )
    ).to_have_count(1)


def test_connect_to_xero_reaches_xero_s_sign_in_under_the_csp(
    page: Page, xero_portal: XeroPortal, csp_violations
):
    """Connect to Xero is a form post answered with a redirect to Xero's sign-in page (here
    the sandbox's); Chromium checks that redirect against the CSP's form-action. The admin
    then cancels on Xero's page, so the module's connection is left as it was."""
    portal = xero_portal
    sign_in(page, portal.url, portal.seed.admin.email, portal.seed.admin.password)
    page.goto(f"{portal.url}/admin/xero")
    # Connected and healthy, the page offers no Connect button: post the same form the
    # page shows when it does (templates/admin/xero_connection.html), as a navigation.
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/admin/xero/connect";
            const token = document.createElement("input");
            token.type = "hidden";
            token.name = "csrf_token";
            token.value = document.querySelector('meta[name="csrf-token"]').content;
            form.append(token);
            document.body.append(form);
            form.submit();
        }"""
    )
    expect(page.get_by_role("button", name="Allow access")).to_be_visible()
    assert not page.url.startswith(portal.url), page.url  # on the sandbox's own origin
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Xero was not connected (you cancelled on Xero's page)"
    )
    assert csp_violations == []
