"""What must hold for every invoice's money, whatever ran concurrently: checked, not assumed.

- ``amount_paid`` equals the sum of the invoice's live payments, net of refunds (a payment
  reversed in Xero counts nothing);
- a voided or deleted invoice holds no live payment;
- the status agrees with the amount due (paid exactly when nothing is due).

A lost update (two writers both passing a check only one may pass) breaks one of these, so
the concurrency tests, the stress scenario and ``flask billing reconcile --check`` read
them from the database as it is, in one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from billing.db import ZERO
from billing.invoices import Invoice, InvoiceStatus, Payment


@dataclass(frozen=True)
class Violation:
    invoice_id: int
    invoice_number: str
    what: str

    def __str__(self) -> str:
        return f"{self.invoice_number or f'draft {self.invoice_id}'}: {self.what}"


def money_invariant_violations(db: Session) -> list[Violation]:
    live = case(
        (Payment.reversed_at.is_(None), Payment.amount - Payment.amount_refunded), else_=ZERO
    )
    sums = (
        select(Payment.invoice_id, func.coalesce(func.sum(live), ZERO).label("net"))
        .group_by(Payment.invoice_id)
        .subquery()
    )
    net = func.coalesce(sums.c.net, ZERO)
    rows = db.execute(
        select(Invoice.id, Invoice.number, Invoice.status, Invoice.total, Invoice.amount_paid, net)
        .outerjoin(sums, sums.c.invoice_id == Invoice.id)
        .where(
            or_(
                Invoice.amount_paid != net,
                Invoice.status.in_([InvoiceStatus.VOIDED, InvoiceStatus.DELETED]) & (net > 0),
                (Invoice.status == InvoiceStatus.PAID) & (Invoice.amount_paid != Invoice.total),
                (Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
                & (Invoice.amount_paid >= Invoice.total),
            )
        )
        .order_by(Invoice.id)
    ).all()
    found = []
    for invoice_id, number, status, total, amount_paid, paid in rows:
        paid = Decimal(paid)
        if amount_paid != paid:
            what = f"amount paid is {amount_paid} but its live payments add up to {paid}"
        elif status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            what = f"{status} but holds {paid} of live payments"
        else:
            what = f"{status} with {amount_paid} paid of {total}"
        found.append(Violation(invoice_id, number or "", what))
    return found
