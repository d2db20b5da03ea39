"""The billing run: one invoice per customer with its memberships' due periods, worked out
by hand; a preview that saves nothing; and a run, carried out by the background runner a
chunk of customers at a time, that never charges a period twice (run twice, resumed after
a crash), one at a time, and once a day by itself at the billing hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.invoices.model import Invoice, InvoiceStatus
from billing.recurring import runner as runner_module
from billing.recurring.model import BillingRun, Membership, MembershipCharge
from billing.recurring.periods import Cycle, Proration, Timing
from billing.recurring.run import RunDateTooFar, bill_customer, check_billing_date, preview
from billing.recurring.runner import (
    BillingRunner,
    NothingDue,
    RunUnderWay,
    failures_of,
    start_run,
)
from tests.factories import CustomerFactory, ServiceFactory, TaxRateFactory, make_invoice

DECEMBER_1 = date(2026, 12, 1)
#: The runs' clock: the morning of 1 December.
MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = MORNING):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runner(db, clock=None, **options) -> BillingRunner:
    return BillingRunner(lambda: db, prefix="RUN-", clock=clock or Clock(), **options)


def run_date(db, day: date = DECEMBER_1, **options) -> BillingRun:
    """Queue a run for ``day`` as the page does, and let the worker's runner carry it out."""
    run = start_run(db, day, now=MORNING)
    db.commit()
    runner(db, **options).drain()
    db.refresh(run)
    return run


@pytest.fixture
def vat(db):
    return TaxRateFactory(name="VAT 20% (run)", rate_percent=Decimal("20"))


def plan(vat, **terms):
    terms.setdefault("cycle", Cycle.MONTHLY)
    return ServiceFactory(tax_rate=vat, **terms)


def member(db, customer, service, starts_on, **details) -> Membership:
    membership = Membership(customer=customer, service=service, starts_on=starts_on, **details)
    db.add(membership)
    db.commit()  # releases the SAVEPOINT only: a run's rollback of one customer keeps it
    return membership


def invoices_of(db, customer) -> list[Invoice]:
    return list(
        db.scalars(select(Invoice).where(Invoice.customer_id == customer.id).order_by(Invoice.id))
    )


def test_one_invoice_with_every_due_period_figured_by_hand(db, vat):
    desk = plan(vat, name="Hot desk", unit_price=Decimal("300.00"))
    office = plan(vat, name="Office", unit_price=Decimal("1250.00"))
    customer = CustomerFactory(payment_terms_days=14)
    # Started on 17 November: November's 14 days of 30 (140.00), then December in full.
    member(db, customer, desk, date(2026, 11, 17), quantity=Decimal(2), note="Desks 4 and 5")
    # An office since the summer at 10% off, already billed up to November.
    office_membership = member(db, customer, office, date(2026, 7, 1), discount_percent=10)
    earlier = make_invoice(db, customer)  # stands for the earlier runs' invoices
    for month in range(7, 12):
        start = date(2026, month, 1)
        end = date(2026, month + 1, 1)
        db.add(
            MembershipCharge(
                membership_id=office_membership.id,
                period_start=start,
                period_end=end,
                covered_start=start,
                covered_end=end,
                invoice_id=earlier.id,
                line_position=1,
                billing_date=start,
            )
        )
    db.flush()

    [invoice] = bill_customer(db, customer.id, DECEMBER_1, prefix="RUN-")

    assert invoice.id != earlier.id
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT and invoice.number.startswith("RUN-")
    assert invoice.issue_date == DECEMBER_1 and invoice.due_date == date(2026, 12, 15)
    lines = [
        (line.description, line.quantity, line.unit_price, line.line_amount)
        for line in invoice.lines
    ]
    assert lines == [
        (
            "Hot desk, 17 Nov 2026 to 30 Nov 2026 (14 of 30 days) - Desks 4 and 5",
            Decimal(2),
            Decimal("140.0000"),
            Decimal("280.00"),
        ),
        (
            "Hot desk, 1 Dec 2026 to 31 Dec 2026 - Desks 4 and 5",
            Decimal(2),
            Decimal("300.0000"),
            Decimal("600.00"),
        ),
        # 1250 less 10% = 1125.
        ("Office, 1 Dec 2026 to 31 Dec 2026", Decimal(1), Decimal("1125.0000"), Decimal("1125.00")),
    ]
    # Tax per line, rounded, then summed: 56 + 120 + 225.
    assert (invoice.subtotal, invoice.total_tax, invoice.total) == (
        Decimal("2005.00"),
        Decimal("401.00"),
        Decimal("2406.00"),
    )
    charged = db.scalars(
        select(MembershipCharge).where(MembershipCharge.invoice_id == invoice.id)
    ).all()
    assert sorted((c.period_start, c.line_position) for c in charged) == [
        (date(2026, 11, 1), 1),
        (date(2026, 12, 1), 2),
        (date(2026, 12, 1), 3),
    ]


def test_in_arrears_a_period_is_billed_once_it_is_over(db, vat):
    meeting = plan(vat, name="Meeting room plan", timing=Timing.ARREARS, unit_price=Decimal("90"))
    customer = CustomerFactory()
    member(db, customer, meeting, date(2026, 10, 1))
    # On 1 December: October and November are over, December is not.
    [invoice] = bill_customer(db, customer.id, DECEMBER_1, prefix="RUN-")
    assert [line.description for line in invoice.lines] == [
        "Meeting room plan, 1 Oct 2026 to 31 Oct 2026",
        "Meeting room plan, 1 Nov 2026 to 30 Nov 2026",
    ]


def test_an_end_stops_billing_and_is_prorated_or_not_as_the_plan_says(db, vat):
    prorated = plan(vat, name="Flex", unit_price=Decimal("300"))
    whole = plan(vat, name="Fixed", unit_price=Decimal("300"), prorate_end=Proration.NONE)
    customer = CustomerFactory()
    member(db, customer, prorated, date(2026, 12, 1), ends_on=date(2026, 12, 10))
    member(db, customer, whole, date(2026, 12, 1), ends_on=date(2026, 12, 10))
    [invoice] = bill_customer(db, customer.id, DECEMBER_1, prefix="RUN-")
    assert [(line.description, line.unit_price) for line in invoice.lines] == [
        # 1 to 10 December: 10 of 31 days, 300 x 10 / 31 = 96.7742.
        ("Flex, 1 Dec 2026 to 10 Dec 2026 (10 of 31 days)", Decimal("96.7742")),
        ("Fixed, 1 Dec 2026 to 31 Dec 2026", Decimal("300.0000")),
    ]
    # Nothing more, ever: both have ended.
    assert bill_customer(db, customer.id, date(2027, 1, 1), prefix="RUN-") == []


def test_one_off_services_and_customers_without_memberships_are_not_billed(db, vat):
    ServiceFactory(tax_rate=vat)  # one-off
    CustomerFactory()
    assert preview(db, DECEMBER_1).bills == []


def test_the_preview_saves_nothing_and_shows_what_the_run_issues(db, vat):
    desk = plan(vat, name="Desk", unit_price=Decimal("200"))
    archived = plan(vat, name="Old plan", unit_price=Decimal("50"), active=False)
    first, second = CustomerFactory(xero_contact_id=None), CustomerFactory()
    member(db, first, desk, date(2026, 12, 1))
    member(db, second, desk, date(2026, 12, 1), price=Decimal("150"))
    member(db, second, archived, date(2026, 12, 1))
    invoices_before = db.scalar(select(func.count()).select_from(Invoice))

    shown = preview(db, DECEMBER_1)

    assert db.scalar(select(func.count()).select_from(Invoice)) == invoices_before
    assert db.scalar(select(func.count()).select_from(MembershipCharge)) == 0
    by_customer = {bill.customer.id: bill for bill in shown.bills}
    assert by_customer[first.id].totals.total == Decimal("240.00")
    assert by_customer[second.id].totals.total == Decimal("240.00")  # 150 + 50, plus 20%
    assert shown.totals_by_currency() == {"GBP": Decimal("480.00")}
    assert shown.tax_by_currency_and_rate() == {("GBP", vat.label): Decimal("80.00")}
    assert "No Xero contact yet" in " ".join(by_customer[first.id].warnings)
    assert "Old plan is archived" in " ".join(by_customer[second.id].warnings)


def test_a_run_twice_charges_nothing_twice(db, vat):
    desk = plan(vat, unit_price=Decimal("200"))
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        member(db, customer, desk, date(2026, 11, 1))

    first = run_date(db)

    assert first.finished and first.active is None
    assert (first.total, first.done, first.invoices, first.failed) == (3, 3, 3, 0)
    with pytest.raises(NothingDue, match="Nothing is due by 01 Dec 2026"):
        start_run(db, DECEMBER_1, now=MORNING)
    for customer in customers:
        [invoice] = invoices_of(db, customer)
        assert len(invoice.lines) == 2  # November and December


def test_a_run_goes_a_chunk_of_customers_at_a_time_and_keeps_its_progress(db, vat):
    desk = plan(vat, unit_price=Decimal("200"))
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        member(db, customer, desk, date(2026, 12, 1))
    run = start_run(db, DECEMBER_1, now=MORNING)
    db.commit()
    chunks = runner(db, chunk_size=2)

    assert chunks.run_once() == 1
    db.refresh(run)
    assert (run.status, run.done, run.total, run.invoices) == ("running", 2, 3, 2)
    assert run.cursor == customers[1].id and run.locked_until is None
    assert chunks.run_once() == 1
    db.refresh(run)
    assert (run.status, run.done, run.invoices, run.active) == ("done", 3, 3, None)
    assert chunks.run_once() == 0  # nothing under way, nothing scheduled


def test_a_run_resumed_after_a_crash_bills_each_customer_once(db, vat, monkeypatch):
    desk = plan(vat, unit_price=Decimal("200"))
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        member(db, customer, desk, date(2026, 12, 1))
    run = start_run(db, DECEMBER_1, now=MORNING)
    db.commit()
    real_bill = runner_module.bill_customer
    calls = []

    def dies_on_the_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the worker dies after its first customer's commit
        return real_bill(*args, **kwargs)

    monkeypatch.setattr(runner_module, "bill_customer", dies_on_the_second)
    clock = Clock()
    with pytest.raises(KeyboardInterrupt):
        runner(db, clock).run_once()
    db.rollback()
    monkeypatch.setattr(runner_module, "bill_customer", real_bill)
    db.refresh(run)
    assert (run.done, run.invoices, run.cursor) == (1, 1, customers[0].id)
    # Another worker leaves the run alone while the dead one's lease lasts...
    assert runner(db, clock).run_once() == 0
    # ...and carries on from the next customer once it has run out.
    clock.at += runner_module.LEASE + timedelta(seconds=1)
    assert runner(db, clock).drain() == 1

    db.refresh(run)
    assert (run.status, run.done, run.invoices) == ("done", 3, 3)
    assert [len(invoices_of(db, customer)) for customer in customers] == [1, 1, 1]


def test_a_customer_that_cannot_be_billed_is_reported_and_the_rest_are_billed(db, vat):
    desk = plan(vat, unit_price=Decimal("200"))
    archived = plan(vat, unit_price=Decimal("50"), active=False)
    stuck, fine = CustomerFactory(), CustomerFactory()
    member(db, stuck, archived, date(2026, 12, 1))
    member(db, fine, desk, date(2026, 12, 1))

    run = run_date(db)

    assert (run.done, run.invoices, run.failed) == (2, 1, 1)
    [failure] = failures_of(db, run)
    assert failure.customer_id == stuck.id and "archived" in failure.reason
    # Nothing of the stuck customer's was kept half-way.
    assert invoices_of(db, stuck) == []
    assert (
        db.scalar(
            select(func.count())
            .select_from(MembershipCharge)
            .join(Membership)
            .where(Membership.customer_id == stuck.id)
        )
        == 0
    )


def test_one_run_at_a_time(db, vat):
    member(db, CustomerFactory(), plan(vat, unit_price=Decimal("200")), date(2026, 11, 1))
    run = start_run(db, date(2026, 11, 1), now=MORNING)
    # The same date again (a second admin, a double click): the run under way.
    assert start_run(db, date(2026, 11, 1), now=MORNING).id == run.id
    with pytest.raises(RunUnderWay, match="01 Nov 2026 is under way"):
        start_run(db, DECEMBER_1, now=MORNING)
    runner(db).drain()
    assert start_run(db, DECEMBER_1, now=MORNING).id != run.id


def test_the_worker_runs_the_day_once_at_the_billing_hour(db, vat):
    desk = plan(vat, unit_price=Decimal("200"))
    first = CustomerFactory()
    member(db, first, desk, date(2026, 12, 1))
    clock = Clock(datetime(2026, 12, 1, 5, 59, tzinfo=UTC))
    worker = runner(db, clock, hour=6)

    assert worker.run_once() == 0 and invoices_of(db, first) == []
    assert worker.due_at() == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    clock.at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert worker.drain() == 1
    [run] = db.scalars(select(BillingRun)).all()
    assert (run.scheduled_for, run.billing_date, run.invoices) == (DECEMBER_1, DECEMBER_1, 1)
    assert worker.due_at() == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)

    # Someone starts on the 1st after the day's run: billed by the next day's, not twice
    # today by another worker (one scheduled run a day).
    second = CustomerFactory()
    member(db, second, desk, date(2026, 12, 1))
    clock.at = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert runner(db, clock, hour=6).run_once() == 0
    clock.at = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    assert worker.drain() == 1
    assert [len(invoices_of(db, c)) for c in (first, second)] == [1, 1]
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 2
    # A day with nothing due leaves no run behind.
    clock.at = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)
    assert worker.drain() == 0
    assert db.scalar(select(func.count()).select_from(BillingRun)) == 2


def test_without_a_billing_hour_the_worker_never_starts_a_run(db, vat):
    customer = CustomerFactory()
    member(db, customer, plan(vat, unit_price=Decimal("200")), date(2026, 12, 1))
    worker = runner(db, Clock(datetime(2026, 12, 1, 23, 0, tzinfo=UTC)), hour=None)
    assert worker.due_at() is None and worker.drain() == 0
    assert invoices_of(db, customer) == []


def test_a_run_more_than_one_period_ahead_is_refused(db):
    check_billing_date(date(2027, 1, 1), today=date(2026, 12, 2))  # next period's start: fine
    with pytest.raises(RunDateTooFar, match="01 Jan 2027"):
        check_billing_date(date(2027, 1, 2), today=date(2026, 12, 2))


def test_a_customer_failing_unexpectedly_is_reported_and_the_run_goes_on(db, vat, monkeypatch):
    desk = plan(vat, unit_price=Decimal("200"))
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        member(db, customer, desk, date(2026, 12, 1))
    real_bill = runner_module.bill_customer

    def breaks_on_the_second(db_, customer_id, *args, **kwargs):
        if customer_id == customers[1].id:
            raise RuntimeError("a bug, say")
        return real_bill(db_, customer_id, *args, **kwargs)

    monkeypatch.setattr(runner_module, "bill_customer", breaks_on_the_second)
    run = run_date(db)

    assert (run.status, run.done, run.invoices, run.failed) == ("done", 3, 2, 1)
    [failure] = failures_of(db, run)
    assert failure.customer_id == customers[1].id
    assert failure.reason == "Unexpected error (RuntimeError): a bug, say"
    assert [len(invoices_of(db, c)) for c in customers] == [1, 0, 1]


def test_a_worker_whose_lease_ran_out_writes_nothing(db, vat):
    desk = plan(vat, unit_price=Decimal("200"))
    customers = [CustomerFactory() for _ in range(2)]
    for customer in customers:
        member(db, customer, desk, date(2026, 12, 1))
    run = start_run(db, DECEMBER_1, now=MORNING)
    db.commit()
    clock = Clock()
    stalled = runner(db, clock)
    stale_token = stalled._claim(db, run.id, clock())
    assert stale_token is not None
    # The stalled worker's lease runs out; another takes the run over and bills the first.
    clock.at += runner_module.LEASE + timedelta(seconds=1)
    other = runner(db, clock, chunk_size=1)
    assert other.run_once() == 1
    db.refresh(run)
    assert (run.done, run.invoices, run.cursor) == (1, 1, customers[0].id)

    stalled._step(db, run.id, stale_token)  # it wakes up and goes on with its chunk

    db.refresh(run)
    # Nothing of it was kept: the second customer is still to bill, the lease the other's.
    assert (run.done, run.invoices, run.cursor, run.status) == (1, 1, customers[0].id, "running")
    assert invoices_of(db, customers[1]) == []
    assert other.drain() >= 1
    db.refresh(run)
    assert (run.status, run.done, run.invoices) == ("done", 2, 2)
    assert [len(invoices_of(db, c)) for c in customers] == [1, 1]
