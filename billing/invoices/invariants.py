"""What must hold for every invoice's money, whatever ran concurrently: checked, not assumed.

- ``amount_paid`` equals the sum of the invoice's applied live payments, net of refunds (a
  payment reversed in Xero counts nothing, and neither does one held as an overpayment);
- an overpayment is counted once, either applied or held: every held payment has its
  overpayment, and an overpayment still held (open, being refunded, kept as credit) has its
  payment held, never also in the amount paid; one whose payment was applied in the end has
  it applied;
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
from billing.invoices.model import Invoice, InvoiceStatus, Payment
from billing.payments.overpayments import Overpayment, OverpaymentStatus

#: An overpayment in these states keeps its payment held (apart from the amount paid).
HOLDING = (
    OverpaymentStatus.OPEN,
    OverpaymentStatus.REFUNDING,
    OverpaymentStatus.CREDITING,
    OverpaymentStatus.KEPT_AS_CREDIT,
)

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Violation:
    invoice_id: int
    invoice_number: str
    what: str

    def __str__(self) -> str:
        return f"{self.invoice_number or f'draft {self.invoice_id}'}: {self.what}"


def money_invariant_violations(db: Session) -> list[Violation]:
    live = case(
        (
            Payment.reversed_at.is_(None) & Payment.held.is_(False),
            Payment.amount - Payment.amount_refunded,
        ),
        else_=ZERO,
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
    # The query finds candidates; the verdict is taken here in Decimal, because SQLite
    # stores NUMERIC as floating point and its SUM can be off by a hair where nothing is.
    found = []
    for invoice_id, number, status, total, amount_paid, paid in rows:
        paid = Decimal(str(paid)).quantize(CENT)
        if amount_paid != paid:
            what = f"amount paid is {amount_paid} but its live payments add up to {paid}"
        elif status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED) and paid > 0:
            what = f"{status} but holds {paid} of live payments"
        elif (status == InvoiceStatus.PAID) != (amount_paid >= total):
            what = f"{status} with {amount_paid} paid of {total}"
        else:
            continue
        found.append(Violation(invoice_id, number or "", what))
    return sorted(found + _overpayment_violations(db), key=lambda v: v.invoice_id)


def _overpayment_violations(db: Session) -> list[Violation]:
    """Held payments without their overpayment, and overpayments whose payment is counted
    on the wrong side (applied while held, or held once applied)."""
    rows = db.execute(
        select(Invoice.id, Invoice.number, Payment.id, Payment.held, Overpayment.status)
        .join(Payment, Payment.invoice_id == Invoice.id)
        .outerjoin(Overpayment, Overpayment.payment_id == Payment.id)
        .where(
            or_(
                Payment.held.is_(True) & Overpayment.id.is_(None),
                Overpayment.status.in_(HOLDING) & Payment.held.is_(False),
                (Overpayment.status == OverpaymentStatus.APPLIED) & Payment.held.is_(True),
            )
        )
        .order_by(Invoice.id, Payment.id)
    ).all()
    found = []
    for invoice_id, number, payment_id, held, status in rows:
        if status is None:
            what = f"payment {payment_id} is held but no overpayment says why"
        elif held:
            what = f"payment {payment_id} is held but its overpayment is {status}"
        else:
            what = f"payment {payment_id} is counted as paid but its overpayment is {status}"
        found.append(Violation(invoice_id, number or "", what))
    return found
