"""Read models for pages: invoice lists, balances and the admin summary.

Every list is one query (plus one count), whatever the number of invoices: customers are
joined in, amounts are columns, nothing is loaded per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, contains_eager, raiseload

from billing import text_search
from billing.customers import Customer
from billing.invoices import Invoice, InvoiceStatus

MEMBER_VISIBLE = (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID, InvoiceStatus.VOIDED)


@dataclass
class Page:
    items: list
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


def paginate(db: Session, stmt, page: int, per_page: int) -> Page:
    page = max(1, page)
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, page=page, per_page=per_page, total=total)


def invoice_list(
    *, customer_id: int | None = None, statuses: tuple[InvoiceStatus, ...] = (), search: str = ""
):
    """Invoices with their customer; loading lines or payments per row raises (no N+1)."""
    stmt = (
        select(Invoice)
        .join(Invoice.customer)
        .options(
            contains_eager(Invoice.customer), raiseload(Invoice.lines), raiseload(Invoice.payments)
        )
    )
    if customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    if statuses:
        stmt = stmt.where(Invoice.status.in_(statuses))
    else:
        stmt = stmt.where(Invoice.status != InvoiceStatus.DELETED)
    if search:
        stmt = stmt.where(
            text_search.any_contains((Invoice.number, Customer.name, Invoice.reference), search)
        )
    return stmt


def awaiting_payment(customer_id: int | None = None):
    return invoice_list(
        customer_id=customer_id, statuses=(InvoiceStatus.AWAITING_PAYMENT,)
    ).order_by(Invoice.due_date, Invoice.id)


def paid(customer_id: int | None = None):
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
        .where(Invoice.status.in_((InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_PAYMENT)))
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    return [
        SummaryRow(c, int(d), Decimal(dt), int(a), Decimal(ad), int(o), Decimal(od))
        for c, d, dt, a, ad, o, od in rows
    ]
