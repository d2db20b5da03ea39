"""The worker's hourly sweep keeps SQLite's planner statistics up to date: without them it
reads a member's balance through every invoice awaiting payment (ix_invoices_owed) instead
of the member's own (ix_invoices_customer_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from billing import statements
from billing.invoices.model import Invoice, InvoiceStatus
from portal.worker import job_runner
from tests.factories import CustomerFactory, ServiceFactory, make_invoice

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's autovacuum keeps its own statistics; the sweep leaves them")


def balance_plan(db, customer_id: int) -> str:
    """SQLite's plan for the member's balance, as statements.balance asks for it."""
    query = (
        select(Invoice.currency, func.sum(Invoice.total - Invoice.amount_paid))
        .where(Invoice.customer_id == customer_id)
        .where(Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
        .group_by(Invoice.currency)
    )
    compiled = query.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    return " ".join(row[3] for row in db.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def test_the_sweep_gives_the_planner_statistics_it_reads_balances_with(sqlite_only, app, db):
    db.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
    service = ServiceFactory()
    # Many customers with a few invoices each, as a coworking space has them.
    customers = [CustomerFactory() for _ in range(20)]
    invoices = [make_invoice(db, customers[n % 20], [(service, "1")]) for n in range(40)]
    member = customers[0]
    # No statistics: the planner guesses, and takes the index of every invoice owed.
    assert "ix_invoices_owed" in balance_plan(db, member.id)

    runner = job_runner(app)
    runner.sweep_if_due(NOW)

    analysed = {
        row[0] for row in db.execute(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'invoices'"))
    }
    assert "ix_invoices_customer_status" in analysed
    assert "ix_invoices_customer_status (customer_id=? AND status=?)" in balance_plan(db, member.id)
    # The balance itself is what it was.
    owed = sum(i.total for i in invoices if i.customer_id == member.id)
    assert owed > 0 and statements.balance(db, member.id) == {"GBP": owed}
    # Hourly: a second sweep within the hour does not analyse again.
    db.execute(text("DELETE FROM sqlite_stat1"))
    runner.sweep_if_due(NOW + timedelta(minutes=59))
    assert db.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar() == 0
    runner.sweep_if_due(NOW + timedelta(hours=1))
    assert db.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar() > 0
