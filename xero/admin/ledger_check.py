"""Do the portal and Xero agree? Every synced invoice is compared with its Xero twin:
status, total, amount paid, amount due, and each payment's amount and reference. First the
portal's own books are checked against themselves (``billing.invoices.invariants``): an amount paid
that is not the sum of its payments would make any comparison with Xero meaningless.

Reads only: one GET per 50 invoices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import outside_transaction
from billing.invoices.invariants import Violation, money_invariant_violations
from billing.invoices.model import Invoice, InvoiceStatus
from xero.api.port import XeroPort
from xero.api.records import XeroInvoice
from xero.models import XeroInvoiceLink

BATCH = 50
XERO_STATUS = {
    InvoiceStatus.AWAITING_PAYMENT: "AUTHORISED",
    InvoiceStatus.PAID: "PAID",
    InvoiceStatus.VOIDED: "VOIDED",
    InvoiceStatus.DELETED: "DELETED",
    InvoiceStatus.DRAFT: "DRAFT",
}


@dataclass(frozen=True)
class Mismatch:
    invoice_number: str
    what: str
    portal: str
    xero: str

    def __str__(self) -> str:
        return (
            f"{self.invoice_number}: {self.what} is {self.portal} in the portal, "
            f"{self.xero} in Xero"
        )


@dataclass
class CheckResult:
    checked: int
    mismatches: list[Mismatch]
    #: The portal's own books disagreeing with themselves (synced to Xero or not).
    portal_violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.portal_violations


def _payments_of_portal(invoice: Invoice) -> list[tuple[Decimal, str]]:
    return sorted((p.net_amount, p.reference or "") for p in invoice.payments if p.net_amount > 0)


def _payments_of_xero(x: XeroInvoice) -> list[tuple[Decimal, str]]:
    return sorted((p.amount, p.reference) for p in x.payments if p.status != "DELETED")


def compare(invoice: Invoice, x: XeroInvoice) -> list[Mismatch]:
    number = invoice.number or f"draft {invoice.id}"
    found = []

    def differ(what: str, portal: object, xero: object) -> None:
        if portal != xero:
            found.append(Mismatch(number, what, str(portal), str(xero)))

    differ("status", XERO_STATUS[invoice.state], x.status)
    differ("total", invoice.total, x.total)
    differ("amount paid", invoice.amount_paid, x.amount_paid)
    differ("amount due", invoice.amount_due, x.amount_due)
    portal_payments, xero_payments = _payments_of_portal(invoice), _payments_of_xero(x)
    if portal_payments != xero_payments:
        found.append(
            Mismatch(
                number,
                "payments (amount, reference)",
                ", ".join(f"{a} {r!r}" for a, r in portal_payments) or "none",
                ", ".join(f"{a} {r!r}" for a, r in xero_payments) or "none",
            )
        )
    return found


def check_ledgers(db: Session, api: XeroPort) -> CheckResult:
    violations = money_invariant_violations(db)
    rows = db.execute(
        select(Invoice, XeroInvoiceLink.xero_invoice_id)
        .join(XeroInvoiceLink, XeroInvoiceLink.invoice_id == Invoice.id)
        .where(XeroInvoiceLink.xero_invoice_id.is_not(None))
        .order_by(Invoice.id)
    ).all()
    # Invoices come with their payments (selectin); no transaction stays open during calls.
    outside_transaction(db)
    mismatches: list[Mismatch] = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        answer = api.get_invoices_by_ids([xero_id or "" for _, xero_id in chunk])
        by_id = {x.invoice_id.lower(): x for x in answer}
        for invoice, xero_id in chunk:
            x = by_id.get((xero_id or "").lower())
            if x is None:
                mismatches.append(
                    Mismatch(invoice.number or "", "presence", "synced", "missing from Xero")
                )
                continue
            mismatches.extend(compare(invoice, x))
    return CheckResult(checked=len(rows), mismatches=mismatches, portal_violations=violations)
