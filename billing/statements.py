"""Read models for pages: invoice lists, balances and the admin summary.

Every list is one query (plus one count, or on the long admin lists two index probes),
whatever the number of invoices: customers are joined in, amounts are columns, nothing is
loaded per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, contains_eager, lazyload

from billing.customers import Customer
from billing.db import ZERO, ContainsText
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


@dataclass
class KeysetPage:
    """A page of a long list, newest first, reached by "newer" and "older" links that name
    the row next to them (keyset paging): every page costs the same, the last as the first,
    and no page counts the whole list."""

    items: list[Any]
    #: Row ids for the links: ``after=newer`` shows the rows just newer than this page,
    #: ``before=older`` the rows just older; None when there are none.
    newer: int | None
    older: int | None


def keyset_page(
    db: Session,
    stmt: Select[Any],
    key: tuple[Any, ...],
    id_of: Any,
    *,
    before: int | None,
    after: int | None,
    per_page: int,
    rows_of: Callable[[Select[Any]], list[Any]] | None = None,
) -> KeysetPage:
    """One page of ``stmt`` ordered newest first by ``key`` (whose last column is the row id).

    ``before``/``after`` name a row by id; the page holds the rows just older/newer than
    it (its key read in a subquery, so the link carries only an id). ``id_of`` gives an
    item's id; ``rows_of`` runs a query (default: its first column's objects). The page is
    the query itself with LIMIT per_page + 1 (the extra row says whether there are more),
    and one EXISTS for the other direction; an index on ``key`` serves all of it.
    """
    table_key = tuple_(*key)
    fetch = rows_of or (lambda query: list(db.scalars(query)))

    def key_of(row_id: int) -> Any:
        return tuple_(*(select(c).where(key[-1] == row_id).scalar_subquery() for c in key))

    newest_first, oldest_first = [c.desc() for c in key], list(key)

    def any_where(clause: ColumnElement[bool], order: list[Any]) -> bool:
        # Ordered along the key's index, the probe reads the one row next to the page; left
        # unordered, SQLite's planner (given statistics) may walk every customer instead.
        probe = stmt.where(clause).order_by(*order).limit(1).subquery()
        return bool(db.scalar(select(exists(probe))))

    if after is not None:
        # Oldest first from the cursor up, then turned round: the rows just newer than it.
        query = stmt.where(table_key > key_of(after)).order_by(*oldest_first)
        rows = fetch(query.limit(per_page + 1))
        items = rows[:per_page][::-1]
        more_newer, more_older = len(rows) > per_page, bool(items)
        if items:
            more_older = any_where(table_key < key_of(id_of(items[-1])), newest_first)
    else:
        query = stmt.order_by(*newest_first)
        if before is not None:
            query = query.where(table_key < key_of(before))
        rows = fetch(query.limit(per_page + 1))
        items = rows[:per_page]
        more_older = len(rows) > per_page
        more_newer = before is not None and bool(items)
        if more_newer:
            more_newer = any_where(table_key > key_of(id_of(items[0])), oldest_first)
    return KeysetPage(
        items,
        newer=id_of(items[0]) if more_newer else None,
        older=id_of(items[-1]) if more_older else None,
    )


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
        # The matches are found apart from the list's join and order, each arm on one
        # table's own columns: on PostgreSQL each is served by its trigram index; on SQLite
        # the first reads ix_invoices_text (two short columns), not every invoice's row.
        text = search.strip()
        matching = union_all(
            select(Invoice.id).where(
                or_(ContainsText(Invoice.number, text), ContainsText(Invoice.reference, text))
            ),
            select(Invoice.id).where(
                Invoice.customer_id.in_(
                    select(Customer.id).where(ContainsText(Customer.name, text))
                )
            ),
        )
        stmt = stmt.where(Invoice.id.in_(matching))
    return stmt


#: The admin invoice list's order, newest first (index ix_invoices_created).
NEWEST_INVOICES = (Invoice.created_at, Invoice.id)


def awaiting_payment(customer_id: int | None = None) -> Select[Invoice]:
    return invoice_list(
        customer_id=customer_id, statuses=(InvoiceStatus.AWAITING_PAYMENT,)
    ).order_by(Invoice.due_date, Invoice.id)


def paid(customer_id: int | None = None) -> Select[Invoice]:
    return invoice_list(customer_id=customer_id, statuses=(InvoiceStatus.PAID,)).order_by(
        Invoice.issue_date.desc(), Invoice.id.desc()
    )


def balance(db: Session, customer_id: int) -> dict[str, Decimal]:
    """What the customer owes, per currency (usually one).

    The customer's invoices awaiting payment, summed here rather than grouped in SQL: a
    GROUP BY currency lets SQLite's planner (which has no statistics) prefer
    ix_invoices_owed, ordered by status and currency, and read every invoice awaiting
    payment; ix_invoices_customer_status covers these columns and reads the customer's
    own."""
    owed: dict[str, Decimal] = {}
    rows = db.execute(
        select(Invoice.currency, Invoice.total, Invoice.amount_paid)
        .where(Invoice.customer_id == customer_id)
        .where(Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
    )
    for currency, total, paid in rows:
        owed[currency] = owed.get(currency, ZERO) + total - paid
    return dict(sorted(owed.items()))


@dataclass
class SummaryRow:
    currency: str
    drafts: int
    draft_total: Decimal
    awaiting: int
    awaiting_due: Decimal
    overdue: int
    overdue_due: Decimal


def _test_customers() -> Select[int]:
    """The trial run's test customers, whose invoices and payments are not money: a short
    list left out with NOT IN rather than a join, so that the sums read only their index."""
    # "= true", not "IS true": the form that matches the partial index ix_customers_test.
    return select(Customer.id).where(Customer.is_test == True)  # noqa: E712


def admin_summary(db: Session, today: date) -> list[SummaryRow]:
    """Counts and totals of draft, awaiting-payment and overdue invoices, per currency."""
    # Summed per status, currency and due date in SQL, walking ix_invoices_owed in its own
    # order and reading nothing else (every column here is in it), and folded here: a few
    # hundred rows (due dates), however many invoices.
    rows = db.execute(
        select(
            Invoice.status,
            Invoice.currency,
            Invoice.due_date,
            func.count(),
            func.sum(Invoice.total),
            func.sum(Invoice.amount_paid),
        )
        .where(Invoice.status.in_((InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_PAYMENT)))
        .where(Invoice.customer_id.not_in(_test_customers()))
        .group_by(Invoice.status, Invoice.currency, Invoice.due_date)
    )
    summary: dict[str, SummaryRow] = {}
    zero = Decimal("0.00")
    for status, currency, due_date, count, total, paid in rows:
        row = summary.setdefault(currency, SummaryRow(currency, 0, zero, 0, zero, 0, zero))
        if status == InvoiceStatus.DRAFT:
            row.drafts += count
            row.draft_total += Decimal(total)
            continue
        due = Decimal(total) - Decimal(paid)
        row.awaiting += count
        row.awaiting_due += due
        if due_date < today:
            row.overdue += count
            row.overdue_due += due
    return [summary[currency] for currency in sorted(summary)]


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
    test_invoices = select(Invoice.id).where(Invoice.customer_id.in_(_test_customers()))
    # Summed per day in SQL, in ix_payments_received's order and from that index alone (no
    # join, no date function per row), and per month here: at most a year of days a
    # currency, however many payments.
    rows = db.execute(
        select(
            Payment.paid_on, Payment.currency, func.sum(Payment.amount - Payment.amount_refunded)
        )
        .where(Payment.paid_on >= start, Payment.paid_on <= today, Payment.reversed_at.is_(None))
        .where(Payment.invoice_id.not_in(test_invoices))  # test payments are never income
        .group_by(Payment.paid_on, Payment.currency)
    )
    totals: dict[str, dict[tuple[int, int], Decimal]] = {}
    for paid_on, currency, amount in rows:
        by_month = totals.setdefault(currency, {})
        key = (paid_on.year, paid_on.month)
        by_month[key] = by_month.get(key, Decimal("0.00")) + Decimal(amount)
    return {
        currency: [MonthTotal(y, m, by_month.get((y, m), Decimal("0.00"))) for y, m in window]
        for currency, by_month in sorted(totals.items())
    }
