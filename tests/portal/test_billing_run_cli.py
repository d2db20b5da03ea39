"""``flask billing run``: a dry run that saves nothing, a run whose invoices go to the Xero
outbox, a second run that issues nothing, and dates it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from billing.invoices.model import Invoice, InvoiceStatus
from billing.recurring.model import Membership
from billing.recurring.periods import Cycle, next_period, period_containing
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory
from xero.models import JobKind, SyncJob


def this_period() -> date:
    """The start of the current monthly period (the command checks dates against today)."""
    return period_containing(date.today(), Cycle.MONTHLY).start


def on_a_plan(db) -> Membership:
    rate = TaxRateFactory(name="VAT 20% (cli)", rate_percent=Decimal("20"))
    desk = ServiceFactory(
        name="Resident desk", cycle=Cycle.MONTHLY, unit_price=Decimal("250"), tax_rate=rate
    )
    membership = Membership(
        customer=CustomerFactory(name="Desk & Co"), service=desk, starts_on=this_period()
    )
    db.add(membership)
    db.commit()  # releases the SAVEPOINT only
    return membership


def invoices_of(db, membership: Membership) -> list[Invoice]:
    db.expire_all()
    return list(db.scalars(select(Invoice).where(Invoice.customer_id == membership.customer_id)))


def billing_run(app, *args: str):
    return app.test_cli_runner().invoke(args=["billing", "run", *args])


def test_a_dry_run_lists_the_invoices_and_saves_nothing(app, db):
    membership = on_a_plan(db)
    result = billing_run(app, "--date", this_period().isoformat(), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Desk & Co: 1 line, £300.00 (tax £50.00)" in result.output
    assert "Resident desk, " in result.output and "= £250.00" in result.output
    assert "warning: No Xero contact yet" in result.output
    assert "1 invoice, £300.00; nothing was saved." in result.output
    assert invoices_of(db, membership) == []


def test_a_run_issues_the_invoice_for_xero_and_a_second_issues_nothing(app, db):
    membership = on_a_plan(db)
    day = this_period().isoformat()

    first = billing_run(app, "--date", day)
    assert first.exit_code == 0, first.output
    assert "billed 1 of 1 customers" in first.output
    assert "1 invoice issued for 1 customer, 0 not billed." in first.output
    [invoice] = invoices_of(db, membership)
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.number.startswith(app.config["INVOICE_PREFIX"])
    # Issued like any invoice: its push to Xero is queued in the same transaction.
    assert (
        db.scalar(
            select(func.count())
            .select_from(SyncJob)
            .where(SyncJob.kind == JobKind.INVOICE, SyncJob.object_id == invoice.id)
        )
        == 1
    )

    second = billing_run(app, "--date", day)
    assert second.exit_code == 0, second.output
    assert f"Nothing is due by {this_period():%d %b %Y}: no invoices to issue." in second.output
    assert len(invoices_of(db, membership)) == 1


def test_dates_it_refuses(app, db):
    beyond = next_period(period_containing(date.today(), Cycle.MONTHLY), Cycle.MONTHLY).start
    too_far = billing_run(app, "--date", beyond.replace(day=2).isoformat())
    assert too_far.exit_code != 0 and "at most one period ahead" in too_far.output
    for bad in ("2026-13-01", "tomorrow", "2026-02-30\x00"):
        result = billing_run(app, "--date", bad)
        assert result.exit_code == 2 and "is not a date such as 2026-12-01" in result.output


def test_a_customer_it_cannot_bill_is_named_with_the_reason_and_the_exit_status_says_so(app, db):
    membership = on_a_plan(db)
    membership.service.active = False  # an archived plan's invoice cannot be issued
    db.commit()
    result = billing_run(app, "--date", this_period().isoformat())
    assert result.exit_code == 1
    assert "Desk & Co not billed: " in result.output and "archived" in result.output
    assert "0 invoices issued for 0 customers, 1 not billed." in result.output
    assert invoices_of(db, membership) == []


def test_a_run_for_another_date_under_way_is_left_alone(app, db):
    from billing.recurring.runner import start_run

    membership = on_a_plan(db)
    earlier = period_containing(this_period() - timedelta(days=1), Cycle.MONTHLY).start
    membership.starts_on = earlier
    db.commit()
    under_way = start_run(db, earlier, now=datetime.now(UTC))
    db.commit()
    result = billing_run(app, "--date", this_period().isoformat())
    assert result.exit_code == 1
    assert f"The billing run for {earlier:%d %b %Y} is under way" in result.output
    db.refresh(under_way)
    assert under_way.active and under_way.done == 0
