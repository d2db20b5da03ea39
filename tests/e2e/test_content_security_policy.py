"""The portal's CSP in a real browser: an injected inline script does not run, and the page
fixture notices the refusal, so every browser test (the card payment through Stripe.js,
the invoice form's prefill) also proves the portal's own scripts run under the policy."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import Error, Page, expect

from tests.e2e.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_an_injected_inline_script_is_refused(page: Page, live_server, csp_violations):
    seed = live_server.seed
    sign_in(page, live_server.url, seed.admin.email, seed.admin.password)
    page.goto(f"{live_server.url}/admin/invoices/new")
    # Playwright may report the refused script as an error; the browser's word is below.
    with contextlib.suppress(Error):
        page.add_script_tag(content="window.injected = 'ran';")
    assert page.evaluate("window.injected === undefined")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert any("inline script" in text for text in csp_violations), csp_violations
    csp_violations.clear()  # seen and expected: the fixture must not fail this test
