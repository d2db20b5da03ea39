"""The billing run: for a billing date, one invoice per customer (and currency) with every
period of its memberships that is due and its pending charges dated by then, issued as any
invoice is (``create_draft`` and ``issue_invoice``: the same lines, tax and numbering as one
typed by hand).

A period is due when the plan bills in advance and the period has begun by the billing date,
or bills in arrears and is over by then. Periods missed by earlier runs are caught up (up to
``MAX_CATCH_UP`` a membership a run). ``preview`` works it all out and saves nothing;
``bill_customer`` issues one customer's invoices and records each period it charged
(``MembershipCharge``, unique per membership and period start), so a second run, a run
resumed after a crash, or two workers at once never charge a period twice. The run itself,
customer after customer in the background, is ``billing.recurring.runner``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.customers import Customer
from billing.db import ZERO
from billing.errors import BillingError
from billing.invoices.model import Invoice
from billing.invoices.operations import (
    MAX_LINES,
    DraftDetails,
    DraftLine,
    create_draft,
    issue_invoice,
)
from billing.recurring.model import Membership, MembershipCharge, PendingCharge
from billing.recurring.periods import (
    UNIT_PRICE_PLACES,
    Charge,
    Cycle,
    Period,
    Proration,
    Timing,
    charge_for,
    describe,
    next_period,
    period_containing,
)
from billing.services import Service
from billing.tax import InvoiceTotals, LineAmountType, LineTotals, invoice_totals, line_totals

#: Periods of one membership a run invoices at most (a membership back-dated by years is
#: caught up over several runs rather than on one invoice of hundreds of lines).
MAX_CATCH_UP = 24
#: Recurring invoices are written tax-exclusive, as plans are priced.
AMOUNTS = LineAmountType.EXCLUSIVE


class RunDateTooFar(BillingError):
    """A billing date more than one period ahead."""


class PlanArchived(BillingError):
    """A due membership's plan is archived: its invoice cannot be issued."""


@dataclass(frozen=True)
class PlannedLine:
    """One invoice line as it will be invoiced: one period of one membership (``charge``),
    or one pending charge (``pending_id``)."""

    service: Service
    description: str
    quantity: Decimal
    unit_price: Decimal
    totals: LineTotals
    membership_id: int | None = None
    charge: Charge | None = None
    pending_id: int | None = None


@dataclass
class CustomerBill:
    """One invoice-to-be: a customer's due periods and pending charges in one currency."""

    customer: Customer
    currency: str
    lines: list[PlannedLine]
    warnings: list[str] = field(default_factory=list)

    @property
    def totals(self) -> InvoiceTotals:
        return invoice_totals((line.totals for line in self.lines), AMOUNTS)

    def invoices(self) -> list[list[PlannedLine]]:
        """The lines of each invoice it makes: ``MAX_LINES`` at most on one."""
        return [self.lines[i : i + MAX_LINES] for i in range(0, len(self.lines), MAX_LINES)]

    @property
    def issuable(self) -> bool:
        return all(line.service.active for line in self.lines)

    def tax_by_rate(self) -> dict[str, Decimal]:
        by_rate: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            by_rate[line.service.tax_rate.label] += line.totals.tax_amount
        return dict(by_rate)


@dataclass
class Preview:
    billing_date: date
    bills: list[CustomerBill]

    def invoice_count(self) -> int:
        """The invoices a run would issue (a bill that cannot be issued makes none)."""
        return sum(len(bill.invoices()) for bill in self.bills if bill.issuable)

    def totals_by_currency(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for bill in self.bills:
            totals[bill.currency] += bill.totals.total
        return dict(sorted(totals.items()))

    def tax_by_currency_and_rate(self) -> dict[tuple[str, str], Decimal]:
        taxes: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for bill in self.bills:
            for rate, amount in bill.tax_by_rate().items():
                taxes[(bill.currency, rate)] += amount
        return dict(sorted(taxes.items()))


def check_billing_date(billing_date: date, today: date, billing_day: int = 1) -> None:
    """A run may bill up to the start of the next monthly period, not beyond it."""
    limit = period_containing(today, Cycle.MONTHLY, billing_day).end
    if billing_date > limit:
        raise RunDateTooFar(
            f"A billing run can be at most one period ahead: {limit:%d %b %Y} at the latest."
        )


def unit_price_of(membership: Membership, service: Service) -> Decimal:
    """The membership's price for a whole period: its own or the plan's, less its discount."""
    price = membership.price if membership.price is not None else service.unit_price
    if membership.discount_percent:
        price = (price * (100 - membership.discount_percent) / 100).quantize(
            UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP
        )
    return price


def due_charges(
    membership: Membership, billing_date: date, billed: set[date], billing_day: int = 1
) -> list[Charge]:
    """The periods of ``membership`` due by ``billing_date`` that are not in ``billed``
    (period starts already charged), oldest first."""
    service = membership.service
    cycle = Cycle(service.cycle)
    price = unit_price_of(membership, service)
    ends_before = membership.ends_before
    period: Period = period_containing(membership.starts_on, cycle, billing_day)
    if billed:
        period = next_period(period_containing(max(billed), cycle, billing_day), cycle, billing_day)
    charges: list[Charge] = []
    while len(charges) < MAX_CATCH_UP:
        if ends_before is not None and period.start >= ends_before:
            break
        due = (
            period.start <= billing_date
            if service.timing == Timing.ADVANCE
            else period.end <= billing_date
        )
        if not due:
            break
        if period.start not in billed:
            charge = charge_for(
                period,
                price,
                starts=membership.starts_on,
                ends=ends_before,
                on_start=Proration(service.prorate_start),
                on_end=Proration(service.prorate_end),
            )
            if charge is not None:
                charges.append(charge)
        period = next_period(period, cycle, billing_day)
    return charges


def _line(membership: Membership, charge: Charge) -> PlannedLine:
    service = membership.service
    text = f"{service.name}, {describe(charge.covered)}"
    if charge.prorated:
        text += f" ({charge.covered.days} of {charge.period.days} days)"
    if membership.note.strip():
        text += f" - {membership.note.strip()}"
    totals = line_totals(
        membership.quantity, charge.unit_price, service.tax_rate.rate_percent, AMOUNTS
    )
    return PlannedLine(
        service,
        text,
        membership.quantity,
        charge.unit_price,
        totals,
        membership_id=membership.id,
        charge=charge,
    )


def _pending_line(pending: PendingCharge) -> PlannedLine:
    service = pending.service
    price = pending.unit_price if pending.unit_price is not None else service.unit_price
    day = pending.charged_on
    text = f"{pending.description or service.name}, {day.day} {day:%b %Y}"
    totals = line_totals(pending.quantity, price, service.tax_rate.rate_percent, AMOUNTS)
    return PlannedLine(service, text, pending.quantity, price, totals, pending_id=pending.id)


def _memberships(
    db: Session, customer_ids: list[int] | None, lock: bool, after: int = 0
) -> list[Membership]:
    query = (
        select(Membership)
        .join(Membership.service)
        .where(Service.cycle.is_not(None), Membership.customer_id > after)
        .options(selectinload(Membership.charges))
        .order_by(Membership.customer_id, Membership.id)
    )
    if customer_ids is not None:
        query = query.where(Membership.customer_id.in_(customer_ids))
    if lock:
        # Two runs billing one customer at once: the second waits here, then sees the
        # periods the first charged (re-read, not from the session's identity map).
        query = query.with_for_update(of=Membership).execution_options(populate_existing=True)
    return list(db.scalars(query))


def _pending(
    db: Session, billing_date: date, customer_ids: list[int] | None, lock: bool, after: int = 0
) -> list[PendingCharge]:
    query = (
        select(PendingCharge)
        .where(
            PendingCharge.invoice_id.is_(None),
            PendingCharge.charged_on <= billing_date,
            PendingCharge.customer_id > after,
        )
        .order_by(PendingCharge.customer_id, PendingCharge.charged_on, PendingCharge.id)
    )
    if customer_ids is not None:
        query = query.where(PendingCharge.customer_id.in_(customer_ids))
    if lock:
        # A charge another run put on an invoice meanwhile is re-read, and left out.
        query = query.with_for_update(of=PendingCharge).execution_options(populate_existing=True)
    return list(db.scalars(query))


def _bills(
    memberships: list[Membership],
    pending: list[PendingCharge],
    billing_date: date,
    billing_day: int,
) -> Iterator[CustomerBill]:
    """The invoices-to-be, in customer id order (a run's cursor moves along it)."""
    by_customer: dict[tuple[int, str], CustomerBill] = {}

    def bill_for(customer: Customer, currency: str) -> CustomerBill:
        key = (customer.id, currency)
        if key not in by_customer:
            by_customer[key] = CustomerBill(customer, currency, [])
        return by_customer[key]

    for membership in memberships:
        billed = {charge.period_start for charge in membership.charges}
        for charge in due_charges(membership, billing_date, billed, billing_day):
            bill = bill_for(membership.customer, membership.service.currency)
            bill.lines.append(_line(membership, charge))
    for item in pending:
        bill_for(item.customer, item.service.currency).lines.append(_pending_line(item))
    for _key, bill in sorted(by_customer.items()):
        if not bill.customer.xero_contact_id:
            bill.warnings.append("No Xero contact yet: one is created when the invoice syncs.")
        for line in bill.lines:
            if not line.service.active:
                bill.warnings.append(
                    f"{line.service.name} is archived: this invoice cannot be issued."
                )
        yield bill


def preview(db: Session, billing_date: date, *, billing_day: int = 1) -> Preview:
    """What a run for ``billing_date`` would invoice, saving nothing."""
    memberships = _memberships(db, None, False)
    pending = _pending(db, billing_date, None, False)
    return Preview(billing_date, list(_bills(memberships, pending, billing_date, billing_day)))


def customers_due(
    db: Session, billing_date: date, *, billing_day: int = 1, after: int = 0
) -> list[int]:
    """Customers (after the customer id ``after``) with something to invoice for
    ``billing_date``, in id order: the run's work list."""
    memberships = _memberships(db, None, False, after)
    pending = _pending(db, billing_date, None, False, after)
    seen: dict[int, None] = {}
    for bill in _bills(memberships, pending, billing_date, billing_day):
        seen[bill.customer.id] = None
    return list(seen)


def bill_customer(
    db: Session, customer_id: int, billing_date: date, *, prefix: str, billing_day: int = 1
) -> list[Invoice]:
    """Issue the customer's invoices for ``billing_date`` and record the periods charged
    (flushes, does not commit). Nothing is due any more: an empty list."""
    invoices = []
    memberships = _memberships(db, [customer_id], True)
    pending = _pending(db, billing_date, [customer_id], True)
    pending_by_id = {item.id: item for item in pending}
    for bill in _bills(memberships, pending, billing_date, billing_day):
        archived = sorted({line.service.name for line in bill.lines if not line.service.active})
        if archived:
            raise PlanArchived(
                f"{', '.join(archived)} is archived, so this invoice cannot be issued: restore "
                "it in the service library, or end its memberships and remove its charges."
            )
        for lines in bill.invoices():
            draft = create_draft(
                db,
                DraftDetails(
                    customer_id=customer_id,
                    currency=bill.currency,
                    line_amount_type=AMOUNTS,
                    issue_date=billing_date,
                    lines=[
                        DraftLine(line.service.id, line.description, line.quantity, line.unit_price)
                        for line in lines
                    ],
                ),
            )
            invoice = issue_invoice(db, draft, prefix=prefix, today=billing_date)
            for position, line in enumerate(lines, start=1):
                if line.pending_id is not None:
                    charged = pending_by_id[line.pending_id]
                    charged.invoice_id, charged.line_position = invoice.id, position
                    continue
                assert line.membership_id is not None and line.charge is not None
                db.add(
                    MembershipCharge(
                        membership_id=line.membership_id,
                        period_start=line.charge.period.start,
                        period_end=line.charge.period.end,
                        covered_start=line.charge.covered.start,
                        covered_end=line.charge.covered.end,
                        invoice_id=invoice.id,
                        line_position=position,
                        billing_date=billing_date,
                    )
                )
            db.flush()
            invoices.append(invoice)
    return invoices
