"""The ledger check from its page: a POST queues a run for the background worker and shows
its progress (the page refreshes itself, no inline script), one run at a time; the
worker's chunks then fill in the results, which stay on the page. Against a served sandbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from billing.invoices.model import Invoice
from tests.factories import make_invoice
from tests.portal.clocks import freeze
from tests.portal.pages import text
from tests.portal.test_xero_customer_balance import issue_in_xero
from tests.portal.test_xero_customers import (  # noqa: F401 - fixtures
    acme,
    add_contact,
    app,
    app_settings,
    connected,
    xero_app,
)
from tests.xero.conftest import sandbox  # noqa: F401
from xero.admin.ledger_check import LedgerCheckRunner
from xero.models import LedgerCheckRun

PAGE = "/admin/reconcile"
REFRESH = '<meta http-equiv="refresh"'


def run_worker(app, clock) -> int:  # noqa: F811 - the app fixture, passed in
    service = app.extensions["xero"]
    runner = LedgerCheckRunner(service.session_factory, service.ledger_check_api, clock=clock)
    return runner.drain()


def test_the_check_is_queued_shows_progress_and_keeps_its_results(
    app,  # noqa: F811
    admin_client,
    admin,
    db,
    sandbox,  # noqa: F811
    connected,  # noqa: F811
    acme,  # noqa: F811
):
    clock = freeze(app)
    contact = add_contact(sandbox, "Acme Studio Ltd", contact_number="ACME-01")
    acme.xero_contact_id = contact.contact_id
    unsent = make_invoice(db, acme)  # issued; its sync job never carried out
    db.commit()
    issue_in_xero(sandbox, contact.contact_id, "99.00", "2026-12-31")  # made in Xero by hand

    started = admin_client.post_form(PAGE)
    assert started.status_code == 302
    location = urlsplit(started.headers["Location"])
    assert location.path == PAGE
    [run] = db.scalars(select(LedgerCheckRun))
    assert location.query == f"run={run.id}"
    assert run.started_by_id == admin.id and run.total == 1

    queued = text(admin_client.get(f"{PAGE}?run={run.id}"))
    assert "checked 0 of 1 invoices" in queued
    assert REFRESH in queued
    assert 'data-testid="reconcile-under-way"' in queued
    assert "Run the check" not in queued  # one run at a time

    again = admin_client.post_form(PAGE)
    assert urlsplit(again.headers["Location"]).query == f"run={run.id}"
    assert len(db.scalars(select(LedgerCheckRun)).all()) == 1

    assert run_worker(app, clock) >= 2  # the invoices, then the linked contact's in Xero
    db.expire_all()  # the worker wrote through sessions of its own; the app shares this one

    done = text(admin_client.get(PAGE))  # the latest run, once none is under way
    assert REFRESH not in done
    assert "Run the check" in done
    assert f"by {admin.name}" in done
    assert 'data-testid="reconcile-ok"' not in done
    not_in_xero = done[done.index('data-testid="reconcile-not-in-xero"') :]
    assert "1 issued invoices never reached Xero" in not_in_xero
    assert db.get(Invoice, unsent.id).number in not_in_xero
    unknown = done[done.index('data-testid="reconcile-unknown-in-xero"') :]
    assert "1 invoices in Xero for linked contacts that the portal does not know" in unknown
    assert "AUTHORISED for 99.00" in unknown


def test_a_run_that_does_not_exist_is_404(admin_client):
    assert admin_client.get(f"{PAGE}?run=999").status_code == 404
    assert admin_client.get(f"{PAGE}?run={2**40}").status_code == 404


def test_before_any_run_the_page_offers_the_check(admin_client):
    page = text(admin_client.get(PAGE))
    assert "Run the check" in page
    assert REFRESH not in page
    assert "Check " not in page.split("<h1>", 1)[1].split("</h1>", 1)[1].split("<form", 1)[0]
