"""Two billing runs for one customer at once, on two real connections: one invoice, each
period charged once. On PostgreSQL the second run waits on the first's lock of the
customer's memberships and then finds nothing due; on SQLite (one writer, taken at BEGIN)
the runs can only follow each other. Two workers carrying out one queued run share it a
chunk at a time (its lease) and bill each customer once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.customers import CustomerDetails, create_customer
from billing.invoices.model import Invoice
from billing.recurring.charges import ChargeDetails, ChargeNotPending, add_charge, remove_charge
from billing.recurring.model import BillingRun, Membership, MembershipCharge, PendingCharge
from billing.recurring.periods import Cycle
from billing.recurring.run import bill_customer
from billing.recurring.runner import BillingRunner, start_run
from portal import migrations
from portal.db import make_engine
from tests.billing.test_money_races import _wait_until_blocked
from tests.factories import add_service, domain_session

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
DECEMBER_1 = date(2026, 12, 1)


@pytest.fixture(scope="module")
def engine(fresh_database_url):
    url = fresh_database_url("billing_run_races")
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=4) if not url.startswith("sqlite") else make_engine(url)
    yield engine
    engine.dispose()


def _customer_on_a_plan(engine) -> int:
    with domain_session(engine) as db, db.begin():
        desk = add_service(db, unit_price=Decimal("200"), cycle=Cycle.MONTHLY)
        customer = create_customer(db, CustomerDetails(name="Twice & Co"))
        db.add(
            Membership(customer_id=customer.id, service_id=desk.id, starts_on=date(2026, 11, 17))
        )
        return customer.id


def _books(engine, customer_id: int) -> tuple[int, list[date]]:
    with domain_session(engine) as db:
        invoices = db.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.customer_id == customer_id)
        )
        periods = db.scalars(
            select(MembershipCharge.period_start)
            .join(Membership)
            .where(Membership.customer_id == customer_id)
            .order_by(MembershipCharge.period_start)
        ).all()
        return invoices, list(periods)


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks across connections: PostgreSQL only")
def test_a_second_run_waits_for_the_first_and_then_bills_nothing(engine):
    customer_id = _customer_on_a_plan(engine)
    first = domain_session(engine, expire_on_commit=False)
    second = domain_session(engine)
    pid = second.execute(select(func.pg_backend_pid())).scalar_one()
    [issued] = bill_customer(first, customer_id, DECEMBER_1, prefix="RACE-")
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(bill_customer, second, customer_id, DECEMBER_1, prefix="RACE-")
        _wait_until_blocked(engine, pid, later)
        first.commit()
        assert later.result() == []
    second.commit()
    first.close()
    second.close()
    assert _books(engine, customer_id) == (1, [date(2026, 11, 1), date(2026, 12, 1)])
    # 17 to 30 November, 200 x 14 / 30 = 93.33, and December's 200.00; 20% tax per line.
    assert (issued.subtotal, issued.total_tax, issued.total) == (
        Decimal("293.33"),
        Decimal("58.67"),
        Decimal("352.00"),
    )


def test_two_workers_share_one_run_and_bill_each_customer_once(engine):
    customer_ids = [_customer_on_a_plan(engine) for _ in range(6)]
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with domain_session(engine) as db, db.begin():
        run_id = start_run(db, DECEMBER_1, now=now).id

    def worker() -> int:
        billing = BillingRunner(
            lambda: domain_session(engine), prefix="TWO-", clock=lambda: now, chunk_size=2
        )
        return billing.drain()

    with ThreadPoolExecutor(2) as pool:
        chunks = [job.result() for job in [pool.submit(worker), pool.submit(worker)]]

    # Three chunks of two customers and the one that finds none left: each done by whichever
    # worker claimed it (one that finds the run held stops), none done twice.
    assert sum(chunks) == 4
    with domain_session(engine) as db:
        run = db.get_one(BillingRun, run_id)
        assert (run.status, run.done, run.invoices, run.failed) == ("done", 6, 6, 0)
    for customer_id in customer_ids:
        assert _books(engine, customer_id) == (1, [date(2026, 11, 1), date(2026, 12, 1)])


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks across connections: PostgreSQL only")
def test_a_customer_with_charges_only_is_billed_once_by_two_runs_at_once(engine):
    with domain_session(engine) as db, db.begin():
        room = add_service(db, unit_price=Decimal("25"))
        customer_id = create_customer(db, CustomerDetails(name="Charges Twice")).id
        add_charge(db, customer_id, ChargeDetails(room.id, date(2026, 11, 14)), today=DECEMBER_1)
    first = domain_session(engine, expire_on_commit=False)
    second = domain_session(engine)
    pid = second.execute(select(func.pg_backend_pid())).scalar_one()
    [issued] = bill_customer(first, customer_id, DECEMBER_1, prefix="RACE-")
    with ThreadPoolExecutor(1) as pool:
        # The second waits on the first's lock of the charge, then finds it invoiced.
        later = pool.submit(bill_customer, second, customer_id, DECEMBER_1, prefix="RACE-")
        _wait_until_blocked(engine, pid, later)
        first.commit()
        assert later.result() == []
    second.commit()
    first.close()
    second.close()
    with domain_session(engine) as db:
        [charged] = db.scalars(
            select(PendingCharge).where(PendingCharge.customer_id == customer_id)
        ).all()
        assert charged.invoice_id == issued.id
        assert (
            db.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.customer_id == customer_id)
            )
            == 1
        )
        # Removing it now is refused: it is on the invoice.
        with pytest.raises(ChargeNotPending):
            remove_charge(db, customer_id, charged.id)


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks across connections: PostgreSQL only")
def test_removing_a_charge_while_a_run_bills_it_waits_and_is_refused(engine):
    with domain_session(engine) as db, db.begin():
        room = add_service(db, unit_price=Decimal("25"))
        customer_id = create_customer(db, CustomerDetails(name="Remove Meanwhile")).id
        charge_id = add_charge(
            db, customer_id, ChargeDetails(room.id, date(2026, 11, 14)), today=DECEMBER_1
        ).id
    billing = domain_session(engine, expire_on_commit=False)
    admin = domain_session(engine)
    pid = admin.execute(select(func.pg_backend_pid())).scalar_one()
    [issued] = bill_customer(billing, customer_id, DECEMBER_1, prefix="RACE-")
    with ThreadPoolExecutor(1) as pool:
        removal = pool.submit(remove_charge, admin, customer_id, charge_id)
        _wait_until_blocked(engine, pid, removal)  # on the run's lock of the charge
        billing.commit()
        with pytest.raises(ChargeNotPending):
            removal.result()
    admin.rollback()
    billing.close()
    admin.close()
    with domain_session(engine) as db:
        assert db.get_one(PendingCharge, charge_id).invoice_id == issued.id
