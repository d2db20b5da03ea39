"""Invoice numbers stay unique and gap-free when many transactions issue at once.

These tests commit for real, in a database of their own, from several threads each with
its own connection: the guarantee is about concurrent transactions, which a single test
transaction cannot show.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.customers import CustomerDetails, create_customer
from billing.invoices.model import Invoice
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.tax import LineAmountType
from portal import migrations
from portal.db import make_engine
from tests.factories import add_service, domain_session

WORKERS = 8
INVOICES = 40


@pytest.fixture(scope="module")
def committed_engine(fresh_database_url):
    url = fresh_database_url("numbering")
    migrations.upgrade(url)
    engine = (
        make_engine(url, pool_size=WORKERS) if not url.startswith("sqlite") else make_engine(url)
    )
    yield engine
    engine.dispose()


def _drafts(engine, count: int) -> list[int]:
    with domain_session(engine) as db, db.begin():
        service = add_service(db, unit_price=Decimal("10"))
        customer = create_customer(db, CustomerDetails(name="Acme"))
        ids = []
        for _ in range(count):
            draft = create_draft(
                db,
                DraftDetails(
                    customer_id=customer.id,
                    currency="GBP",
                    line_amount_type=LineAmountType.EXCLUSIVE,
                    issue_date=date.today(),
                    lines=[DraftLine(service.id, "Desk", Decimal(1), Decimal(10))],
                ),
            )
            ids.append(draft.id)
        return ids


def _issue(engine, invoice_id: int, fail: bool = False) -> str | None:
    with domain_session(engine) as db:
        with db.begin():
            invoice = db.get(Invoice, invoice_id)
            issue_invoice(db, invoice, prefix="C-", today=date.today())
            number = invoice.number
            if fail:
                # A transaction that rolls back after taking a number must not leave a gap.
                raise RuntimeError("simulated failure after numbering")
        return number


def _issue_or_none(engine, invoice_id, fail):
    try:
        return _issue(engine, invoice_id, fail)
    except RuntimeError:
        return None


def test_concurrent_issuing_gives_unique_gap_free_numbers(committed_engine):
    ids = _drafts(committed_engine, INVOICES)
    # Every fifth transaction fails after taking its number.
    failing = set(ids[::5])
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda i: _issue_or_none(committed_engine, i, i in failing), ids))
    issued = [n for n in results if n is not None]
    assert len(issued) == INVOICES - len(failing)
    assert len(set(issued)) == len(issued), "duplicate invoice numbers"

    with domain_session(committed_engine) as db:
        stored = sorted(db.scalars(select(Invoice.number).where(Invoice.number.is_not(None))))
    expected = [f"C-{n:05d}" for n in range(1, len(issued) + 1)]
    assert stored == expected, "issued numbers must be 1..N with no gaps"
    assert sorted(issued) == expected
