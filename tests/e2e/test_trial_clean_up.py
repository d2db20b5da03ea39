"""The trial run end to end, in a real browser: the admin sends a test invoice, pays it with
the sandbox's "Pay now", runs Clean up (confirming), watches the checklist until the worker
has refunded, deleted and voided in order, and the ledger check then finds both sides agree.

The portal, the sandbox (posting its signed webhooks to the portal) and the job runner are
wired as in the demo, by the same module fixture as the "Pay now" test.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from billing.invoices.model import Invoice
from tests.e2e.test_browser import sign_in
from tests.e2e.test_pay_in_xero import WAIT_SECONDS, XeroPortal, xero_portal  # noqa: F401
from xero.models import XeroInvoiceLink

pytestmark = pytest.mark.browser

WAIT_MS = WAIT_SECONDS * 1000


def _test_invoice(portal: XeroPortal) -> tuple[Invoice, XeroInvoiceLink | None]:
    with portal.sessions() as db:
        invoice = db.query(Invoice).filter(Invoice.number == "TEST-00001").one()
        return invoice, db.get(XeroInvoiceLink, invoice.id)


def test_admin_tries_the_chain_then_cleans_up_and_the_ledgers_agree(
    page: Page,
    xero_portal: XeroPortal,  # noqa: F811
):
    portal = xero_portal
    sign_in(page, portal.url, portal.seed.admin.email, portal.seed.admin.password)

    # --- Send a test invoice to the dummy customer.
    page.goto(f"{portal.url}/admin/trial-run")
    page.get_by_label("Service to invoice").select_option(label="DESK-E2E - Hot desk (day)")
    page.get_by_role("button", name="Send a test invoice").click()
    expect(page.get_by_role("status")).to_contain_text("Test invoice TEST-00001 issued")
    card = page.get_by_test_id("trial-invoice").filter(has_text="TEST-00001")
    trial_steps = card.get_by_test_id("trial").get_by_test_id("step")
    # The page refreshes itself while the invoice travels: in Xero, then its online link.
    expect(trial_steps.nth(1)).to_have_attribute("data-done", "yes", timeout=WAIT_MS)

    # --- Pay it with "Pay now" on Xero's online invoice (the sandbox's page).
    _, link = _test_invoice(portal)
    online = page.context.new_page()
    online.goto(link.online_invoice_url)
    expect(online.get_by_test_id("invoice-number")).to_have_text("TEST-00001")
    online.get_by_role("button", name="Pay now").click()
    expect(online.get_by_role("status")).to_contain_text("Thank you: payment ch_")
    online.close()

    # --- The webhook comes back, the runner records the payment: every step ticked.
    for index in range(5):
        expect(trial_steps.nth(index)).to_have_attribute("data-done", "yes", timeout=WAIT_MS)
    expect(card).to_contain_text("Paid")

    # --- Clean up, through the confirmation page.
    page.get_by_role("link", name="Clean up…").click()
    expect(page.get_by_role("heading", name="Clean up the test invoices?")).to_be_visible()
    expect(page.get_by_test_id("clean-up-plan")).to_contain_text("TEST-00001")
    page.get_by_role("button", name="Clean up", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Clean-up started: TEST-00001.")
    state = page.get_by_test_id("trial-invoice").filter(has_text="TEST-00001")
    expect(state.get_by_test_id("clean-up-state")).to_have_text(
        re.compile("Clean-up: (in progress|done)")
    )
    expect(state.get_by_test_id("clean-up-state")).to_have_text("Clean-up: done", timeout=WAIT_MS)
    cleanup_steps = state.get_by_test_id("clean-up").get_by_test_id("step")
    expect(cleanup_steps).to_have_count(4)
    for index in range(4):
        expect(cleanup_steps.nth(index)).to_have_attribute("data-done", "yes")
    expect(state).to_contain_text("Voided")
    expect(page.get_by_role("link", name="Clean up…")).to_have_count(0)

    invoice, link = _test_invoice(portal)
    assert invoice.status == "voided" and link.xero_status == "VOIDED"
    assert invoice.amount_paid == 0

    # --- The ledger check: every synced invoice, the cleaned-up one too, agrees with Xero.
    page.goto(f"{portal.url}/admin/reconcile")
    page.get_by_role("button", name="Run the check").click()
    # The check runs in the worker; its page refreshes itself until the run is over.
    expect(page.get_by_test_id("reconcile-ok")).to_contain_text("agree with Xero", timeout=WAIT_MS)
    expect(page.get_by_test_id("reconcile-mismatches")).to_have_count(0)
