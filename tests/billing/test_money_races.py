"""Two real connections changing one invoice's money at once, in every order.

Each writer first reads the invoice as a page or a job would (a stale read), then runs the
operation. "first then second" and "second then first" commit one after the other; the
interleaved orders hold the first writer's transaction open after its write, start the
second in another thread, wait (on PostgreSQL, by asking the server) until the second is
blocked on the invoice's row lock, then commit the first. After every order the money
invariants hold and exactly the outcomes one writer may have are there.

These commit for real, in a database of their own. The interleaved orders need row locks
across connections, which only PostgreSQL has (the PostgreSQL pass of CI runs them); SQLite
takes its one write lock at BEGIN, so there a transaction cannot read before another's
commit and only the sequential orders apply.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billing.customers import CustomerDetails, create_customer
from billing.errors import BillingError
from billing.invoices.invariants import money_invariant_violations
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.invoices.numbering import InvoiceNumberSequence
from billing.invoices.operations import (
    DraftDetails,
    DraftLine,
    create_draft,
    issue_invoice,
    void_invoice,
)
from billing.payments.operations import record_payment, record_refund
from billing.payments.overpayments import Overpayment, OverpaymentStatus
from billing.tax import LineAmountType
from portal import migrations
from portal.db import make_engine
from tests.factories import add_service, domain_session

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
TOTAL = Decimal("74.86")  # 62.38 + 20% tax, rounded per line


@pytest.fixture(scope="module")
def engine(fresh_database_url):
    url = fresh_database_url("races")
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=4) if not url.startswith("sqlite") else make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def service_and_customer(engine):
    with domain_session(engine) as db, db.begin():
        service = add_service(db, unit_price=Decimal("62.38"))
        customer = create_customer(db, CustomerDetails(name="Race & Co"))
        return service.id, customer.id


def _invoice(engine, service_and_customer, *, issued: bool = True, paid: Decimal = 0) -> int:
    service_id, customer_id = service_and_customer
    with domain_session(engine) as db, db.begin():
        invoice = create_draft(
            db,
            DraftDetails(
                customer_id=customer_id,
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=date(2026, 11, 1),
                lines=[DraftLine(service_id, "Desk", Decimal(1), Decimal("62.38"))],
            ),
        )
        assert invoice.total == TOTAL
        if issued:
            issue_invoice(db, invoice, prefix="R-", today=date(2026, 11, 1))
        if paid:
            _pay(db, invoice, paid, PaymentSource.PORTAL)
        return invoice.id


def _pay(
    db: Session, invoice: Invoice, amount: Decimal, source: PaymentSource, hold: bool = False
) -> Payment:
    ids = (
        {"gateway_payment_id": f"pi_{uuid.uuid4().hex}"}
        if source is PaymentSource.PORTAL
        else {"xero_payment_id": str(uuid.uuid4())}
    )
    return record_payment(
        db,
        invoice,
        amount=amount,
        paid_on=date(2026, 11, 2),
        method="card" if source is PaymentSource.PORTAL else "xero",
        source=source,
        hold_overpayment=hold,
        **ids,
    )


# --- The writers: each reads first (stale), then acts -------------------------------------

Op = Callable[[Session, Invoice], object]


# As Stripe's succeeded PaymentIntent and Xero's AUTHORISED payment are recorded: the money
# has moved, so one that no longer fits is held as an overpayment, never refused.
def pay_card_in_full(db: Session, invoice: Invoice) -> object:
    return _pay(db, invoice, invoice.amount_due, PaymentSource.PORTAL, hold=True)


def pay_now_in_xero(db: Session, invoice: Invoice) -> object:
    return _pay(db, invoice, invoice.amount_due, PaymentSource.XERO, hold=True)


def void(db: Session, invoice: Invoice) -> object:
    return void_invoice(db, invoice)


def refund_first_payment(db: Session, invoice: Invoice) -> object:
    return record_refund(db, invoice.payments[0], invoice.payments[0].amount)


def issue(db: Session, invoice: Invoice) -> object:
    return issue_invoice(db, invoice, prefix="R-", today=date(2026, 11, 1))


# --- Running two writers in an order -------------------------------------------------------


class Writer:
    """One connection: reads the invoice, then runs its operation in the same transaction."""

    def __init__(self, engine, invoice_id: int, op: Op):
        self.db = domain_session(engine, expire_on_commit=False)
        self.invoice_id = invoice_id
        self.op = op
        self.error: BaseException | None = None

    def read(self) -> None:
        self.invoice = self.db.get(Invoice, self.invoice_id)
        assert self.invoice is not None
        _ = list(self.invoice.payments)

    def backend_pid(self) -> int | None:
        if self.db.get_bind().dialect.name != "postgresql":
            return None
        return self.db.execute(text("SELECT pg_backend_pid()")).scalar_one()

    def write(self) -> None:
        try:
            self.op(self.db, self.invoice)
        except BillingError as error:  # a refusal is a legal outcome; anything else is not
            self.error = error
            self.db.rollback()

    def commit(self) -> None:
        if self.error is None:
            self.db.commit()
        self.db.close()


def _wait_until_blocked(engine, pid: int, future: Future) -> None:
    """Poll the server until the backend ``pid`` waits for a lock (bounded; not a timing
    assertion: it only orders the two writers)."""
    with engine.connect() as conn:
        for _ in range(3000):
            waiting = conn.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
            if waiting == "Lock":
                return
            if future.done():
                future.result()  # raises what the writer raised
                raise AssertionError("the second writer finished while the first held the lock")
            time.sleep(0.01)
    raise AssertionError("the second writer never waited for the invoice's lock")


def run(engine, invoice_id: int, first: Op, second: Op, order: str) -> tuple[Writer, Writer]:
    a, b = Writer(engine, invoice_id, first), Writer(engine, invoice_id, second)
    if order == "sequential":
        # Both read in a request of their own (a page shown before), then write in turn.
        for writer in (a, b):
            writer.read()
            writer.db.commit()
        a.write()
        a.commit()
        b.write()
        b.commit()
        return a, b
    # interleaved: both read in the transaction that writes; a writes and holds its lock,
    # b starts and must wait for it
    a.read()
    b.read()
    pid = b.backend_pid()
    a.write()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(b.write)
        assert pid is not None
        _wait_until_blocked(engine, pid, future)
        a.commit()
        future.result()
    b.commit()
    return a, b


ORDERS = ["sequential"] + (["interleaved"] if ON_POSTGRES else [])


def _state(engine, invoice_id: int) -> tuple[Invoice, list[Payment]]:
    with domain_session(engine, expire_on_commit=False) as db:
        invoice = db.get(Invoice, invoice_id)
        assert invoice is not None
        assert [v for v in money_invariant_violations(db) if v.invoice_id == invoice_id] == []
        return invoice, list(invoice.payments)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("ops", "applied_source"),
    [
        ((pay_card_in_full, pay_now_in_xero), "xero"),
        ((pay_now_in_xero, pay_card_in_full), "xero"),
        ((pay_card_in_full, pay_card_in_full), "portal"),
    ],
    ids=["card-first", "xero-first", "card-twice"],
)
def test_payment_vs_payment_applies_one_and_holds_the_other(
    engine, service_and_customer, order, ops, applied_source
):
    """Both took money: the invoice is paid once and the second is held for an admin. Xero's
    payment is the applied one whenever there is one (Xero applied it; the card payment it
    doubled never reached Xero), so both books show the same payment on the invoice."""
    invoice_id = _invoice(engine, service_and_customer)
    a, b = run(engine, invoice_id, *ops, order)

    invoice, payments = _state(engine, invoice_id)
    assert a.error is None and b.error is None
    assert invoice.state is InvoiceStatus.PAID
    assert invoice.amount_paid == TOTAL
    applied = [(p.source, p.amount, p.net_amount) for p in payments if not p.held]
    held = [p for p in payments if p.held]
    assert applied == [(applied_source, TOTAL, TOTAL)]
    assert [(p.source, p.amount, p.net_amount) for p in held] == [("portal", TOTAL, 0)]
    with domain_session(engine) as db:
        [overpayment] = db.scalars(
            select(Overpayment).where(Overpayment.invoice_id == invoice_id)
        ).all()
        assert (overpayment.payment_id, overpayment.amount) == (held[0].id, TOTAL)
        assert overpayment.state is OverpaymentStatus.OPEN


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("payment_first", [True, False], ids=["payment-first", "void-first"])
def test_payment_vs_void_leaves_no_money_on_a_voided_invoice(
    engine, service_and_customer, order, payment_first
):
    invoice_id = _invoice(engine, service_and_customer)
    ops = (pay_card_in_full, void) if payment_first else (void, pay_card_in_full)
    a, b = run(engine, invoice_id, *ops, order)

    invoice, payments = _state(engine, invoice_id)
    assert a.error is None
    if payment_first:
        # The void is refused: the invoice is paid.
        assert isinstance(b.error, BillingError)
        assert invoice.state is InvoiceStatus.PAID and len(payments) == 1
        assert not payments[0].held
    else:
        # The card's money was taken anyway: held whole on the voided invoice, for an admin
        # to refund, and none of it counted as paid.
        assert b.error is None
        assert invoice.state is InvoiceStatus.VOIDED and invoice.amount_paid == 0
        [payment] = payments
        assert payment.held and payment.amount == TOTAL


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("refund_first", [True, False], ids=["refund-first", "payment-first"])
def test_payment_vs_refund_keeps_amount_paid_equal_to_live_payments(
    engine, service_and_customer, order, refund_first
):
    invoice_id = _invoice(engine, service_and_customer, paid=Decimal("40.00"))
    ops = (
        (refund_first_payment, pay_card_in_full)
        if refund_first
        else (pay_card_in_full, refund_first_payment)
    )
    a, b = run(engine, invoice_id, *ops, order)

    invoice, payments = _state(engine, invoice_id)
    assert a.error is None and b.error is None
    first, second = sorted(payments, key=lambda p: p.id)
    assert first.amount_refunded == Decimal("40.00")
    # The second payment was for the amount due its writer read (34.86), whatever came first.
    assert second.amount == Decimal("34.86")
    assert invoice.amount_paid == Decimal("34.86")
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT


@pytest.mark.parametrize("order", ORDERS)
def test_issue_vs_issue_takes_one_number(engine, service_and_customer, order):
    invoice_id = _invoice(engine, service_and_customer, issued=False)
    with domain_session(engine) as db:
        before = db.scalar(
            select(InvoiceNumberSequence.last_value).where(InvoiceNumberSequence.prefix == "R-")
        )
    a, b = run(engine, invoice_id, issue, issue, order)

    invoice, _ = _state(engine, invoice_id)
    assert a.error is None and b.error is None
    with domain_session(engine) as db:
        after = db.scalar(
            select(InvoiceNumberSequence.last_value).where(InvoiceNumberSequence.prefix == "R-")
        )
        numbered = db.scalar(select(func.count()).where(Invoice.number == invoice.number))
    assert after == (before or 0) + 1
    assert invoice.number == f"R-{after:05d}"
    assert numbered == 1
    assert invoice.state is InvoiceStatus.AWAITING_PAYMENT


def test_the_invariant_check_reports_a_lost_update(engine, service_and_customer):
    """The check the tests rely on can fail: a hand-made lost update is reported."""
    invoice_id = _invoice(engine, service_and_customer, paid=Decimal("10.00"))
    with domain_session(engine) as db, db.begin():
        db.get(Invoice, invoice_id).amount_paid = Decimal("20.00")
    with domain_session(engine) as db:
        found = [v for v in money_invariant_violations(db) if v.invoice_id == invoice_id]
        assert len(found) == 1
        assert "live payments add up to 10.00" in str(found[0])
    with domain_session(engine) as db, db.begin():
        db.get(Invoice, invoice_id).amount_paid = Decimal("10.00")


def test_the_invariant_check_reports_an_overpayment_counted_twice(engine, service_and_customer):
    """A held payment also counted in the amount paid, or held with no overpayment saying
    why, is reported: an overpayment is counted once, applied or held."""
    invoice_id = _invoice(engine, service_and_customer)
    with domain_session(engine) as db, db.begin():
        invoice = db.get(Invoice, invoice_id)
        _pay(db, invoice, TOTAL, PaymentSource.PORTAL, hold=True)
        _pay(db, invoice, TOTAL, PaymentSource.PORTAL, hold=True)
    with domain_session(engine) as db, db.begin():
        held = db.scalar(select(Payment).where(Payment.invoice_id == invoice_id, Payment.held))
        held.held = False  # counted as paid while its overpayment still holds it
        held_id = held.id
    with domain_session(engine) as db:
        found = [str(v) for v in money_invariant_violations(db) if v.invoice_id == invoice_id]
        assert any("live payments add up to 149.72" in v for v in found)
        assert any("counted as paid but its overpayment is open" in v for v in found)
    with domain_session(engine) as db, db.begin():
        db.get(Payment, held_id).held = True
        db.execute(text("DELETE FROM overpayments WHERE payment_id = :id"), {"id": held_id})
    with domain_session(engine) as db:
        found = [str(v) for v in money_invariant_violations(db) if v.invoice_id == invoice_id]
        number = db.get(Invoice, invoice_id).number
        assert found == [f"{number}: payment {held_id} is held but no overpayment says why"]
