"""Browser-test fixtures: the real app on a loopback port, over its own committed database,
driven by Debian's Chromium through Playwright.

Unlike the rest of the suite there is no per-test rollback: the browser talks to a server
thread whose requests make their own sessions and commit, so the e2e run gets a brand-new
database of its own (SQLite file, or a scratch PostgreSQL database when TEST_DATABASE_URL is
set) that is dropped with the run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from billing.customers import CustomerDetails, create_customer
from billing.services import add_tax_rate
from billing.users import Role, create_user
from portal import migrations
from portal.db import make_engine
from tests.conftest import make_test_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = "Debian's chromium is not installed (apt-get install chromium)"
# Root, a closed network, no GPU: keep Chromium from reaching out or needing a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded CI machine, short enough that a missing element fails the test fast.
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    name: str


@dataclass(frozen=True)
class Seed:
    """What the browser test starts from: everything else it creates through the pages."""

    admin: Login
    member: Login
    customer_name: str
    tax_rate_name: str
    tax_rate_percent: Decimal


def _seed(url: str) -> Seed:
    seed = Seed(
        admin=Login("admin@e2e.example", "e2e-admin-password", "Erin Admin"),
        member=Login("mia@harbour.example", "e2e-member-password", "Mia Member"),
        customer_name="Harbour Works Ltd",
        tax_rate_name="Standard rate",
        tax_rate_percent=Decimal("20"),
    )
    engine = make_engine(url)
    try:
        with Session(engine) as db, db.begin():
            add_tax_rate(db, seed.tax_rate_name, seed.tax_rate_percent)
            create_user(
                db,
                email=seed.admin.email,
                name=seed.admin.name,
                password=seed.admin.password,
                role=Role.ADMIN,
            )
            customer = create_customer(
                db,
                CustomerDetails(
                    name=seed.customer_name,
                    contact_name=seed.member.name,
                    email="accounts@harbour.example",
                    payment_terms_days=14,
                ),
            )
            create_user(
                db,
                email=seed.member.email,
                name=seed.member.name,
                password=seed.member.password,
                role=Role.MEMBER,
                customer_id=customer.id,
            )
    finally:
        engine.dispose()
    return seed


@dataclass(frozen=True)
class LiveServer:
    url: str
    seed: Seed


# Module scope (one module uses it): the app's event registrations end with the module.
@pytest.fixture(scope="module")
def live_server(fresh_database_url) -> Iterator[LiveServer]:
    database_url = fresh_database_url("e2e")
    migrations.upgrade(database_url)
    seed = _seed(database_url)
    # No session_factory: each request gets a real session and commits, as in production.
    app = make_test_app(database_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", seed=seed)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        # Close the app's pooled connections before the scratch database is dropped.
        app.extensions["db_engine"].dispose()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM_MISSING}; CI must run the browser tests.", pytrace=False)
        pytest.skip(CHROMIUM_MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser refused under the portal's Content-Security-Policy in this test."""
    return []


@pytest.fixture
def page(browser, request, tmp_path, csp_violations):
    """A fresh browser context (no cookies) per test; a screenshot is kept when it fails.
    A test during which the browser refused anything under the CSP fails: a script that
    does not run is a page that does not work."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page = context.new_page()
    yield page
    if csp_violations:
        context.close()
        pytest.fail(f"the browser refused under the CSP: {csp_violations}")
    if request.node.stash.get(_CALL_FAILED, False):
        path = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"Screenshot of the page at failure ({page.url}): {path}")
        except Exception as error:  # the page may be what broke; the test's own error matters
            print(f"No failure screenshot: {error}")
    context.close()
