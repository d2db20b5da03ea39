"""Read models for pages: invoice lists, balances and the admin summary.

Every list is one query (plus one count), whatever the number of invoices: customers are
joined in, amounts are columns, nothing is loaded per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, extract, func, or_, select
from sqlalchemy.orm import Session, contains_eager, lazyload

from billing.customers import Customer
from billing.invoices.model import Invoice, InvoiceStatus, Payment

MEMBER_VISIBLE = (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID, InvoiceStatus.VOIDED)


@dataclass
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(db: Session, stmt: Select[Any], page: int, per_page: int) -> Page:
    page = max(1, page)
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, page=page, per_page=per_page, total=total)


def invoice_list(
    *, customer_id: int | None = None, statuses: tuple[InvoiceStatus, ...] = (), search: str = ""
) -> Select[Invoice]:
    """Invoices with their customer, lines and payments left unloaded (lists need neither;
    tests count the queries a list page makes)."""
    stmt = (
        select(Invoice)
        .join(Invoice.customer)
        .options(
            contains_eager(Invoice.customer), lazyload(Invoice.lines), lazyload(Invoice.payments)
        )
    )
    if customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    else:
        # Lists across customers leave out the trial run's test invoices (its own page
        # shows them); a customer's own list, the test customer's too, shows all of its own.
        stmt = stmt.where(Customer.is_test.is_(False))
    if statuses:
        stmt = stmt.where(Invoice.status.in_(statuses))
    else:
        stmt = stmt.where(Invoice.status != InvoiceStatus.DELETED)
    if search:
        # autoescape: what an admin types is matched literally, never as a LIKE wildcard.
        stmt = stmt.where(
            or_(
                *(
                    column.icontains(search.strip(), autoescape=True)
                    for column in (Invoice.number, Customer.name, Invoice.reference)
                )
            )
        )
    return stmt


def awaiting_payment(customer_id: int | None = None) -> Select[Invoice]:
    return invoice_list(
        customer_id=customer_id, statuses=(InvoiceStatus.AWAITING_PAYMENT,)
    ).order_by(Invoice.due_date, Invoice.id)


def paid(customer_id: int | None = None) -> Select[Invoice]:
    return invoice_list(customer_id=customer_id, statuses=(InvoiceStatus.PAID,)).order_by(
        Invoice.issue_date.desc(), Invoice.id.desc()
    )


def balance(db: Session, customer_id: int) -> dict[str, Decimal]:
    """What the customer owes, per currency (usually one)."""
    rows = db.execute(
        select(Invoice.currency, func.sum(Invoice.total - Invoice.amount_paid))
        .where(Invoice.customer_id == customer_id)
        .where(Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    return {currency: Decimal(amount) for currency, amount in rows}


@dataclass
class SummaryRow:
    currency: str
    drafts: int
    draft_total: Decimal
    awaiting: int
    awaiting_due: Decimal
    overdue: int
    overdue_due: Decimal


def admin_summary(db: Session, today: date) -> list[SummaryRow]:
    """Counts and totals of draft, awaiting-payment and overdue invoices, per currency."""
    due = Invoice.total - Invoice.amount_paid
    is_draft = Invoice.status == InvoiceStatus.DRAFT
    is_awaiting = Invoice.status == InvoiceStatus.AWAITING_PAYMENT
    is_overdue = is_awaiting & (Invoice.due_date < today)
    rows = db.execute(
        select(
            Invoice.currency,
            func.sum(case((is_draft, 1), else_=0)),
            func.sum(case((is_draft, Invoice.total), else_=0)),
            func.sum(case((is_awaiting, 1), else_=0)),
            func.sum(case((is_awaiting, due), else_=0)),
            func.sum(case((is_overdue, 1), else_=0)),
            func.sum(case((is_overdue, due), else_=0)),
        )
        .join(Invoice.customer)
        .where(Invoice.status.in_((InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_PAYMENT)))
        .where(Customer.is_test.is_(False))  # the trial run's test invoices are not money
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    return [
        SummaryRow(c, int(d), Decimal(dt), int(a), Decimal(ad), int(o), Decimal(od))
        for c, d, dt, a, ad, o, od in rows
    ]


def payment_history(customer_id: int) -> Select[Payment]:
    """A customer's payments, newest first, with their invoice (for the member's history)."""
    return (
        select(Payment)
        .join(Payment.invoice)
        .where(Invoice.customer_id == customer_id)
        .options(contains_eager(Payment.invoice).lazyload("*"))
        .order_by(Payment.paid_on.desc(), Payment.id.desc())
    )


@dataclass
class MonthTotal:
    year: int
    month: int
    amount: Decimal

    @property
    def label(self) -> str:
        return date(self.year, self.month, 1).strftime("%b %Y")


def _months_back(today: date, count: int) -> list[tuple[int, int]]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(months))


def money_received(db: Session, today: date, months: int = 12) -> dict[str, list[MonthTotal]]:
    """Money received per calendar month (this one included), per currency, net of refunds
    and reversed payments. Months without payments are listed with zero."""
    window = _months_back(today, months)
    start = date(window[0][0], window[0][1], 1)
    year = extract("year", Payment.paid_on)
    month = extract("month", Payment.paid_on)
    rows = db.execute(
        select(
            Payment.currency,
            year,
            month,
            func.sum(Payment.amount - Payment.amount_refunded),
        )
        .join(Payment.invoice)
        .join(Invoice.customer)
        .where(Payment.paid_on >= start, Payment.paid_on <= today, Payment.reversed_at.is_(None))
        .where(Customer.is_test.is_(False))  # test payments are refunded, never income
        .group_by(Payment.currency, year, month)
    )
    totals: dict[str, dict[tuple[int, int], Decimal]] = {}
    for currency, y, m, amount in rows:
        totals.setdefault(currency, {})[(int(y), int(m))] = Decimal(amount)
    return {
        currency: [MonthTotal(y, m, by_month.get((y, m), Decimal("0.00"))) for y, m in window]
        for currency, by_month in sorted(totals.items())
    }
