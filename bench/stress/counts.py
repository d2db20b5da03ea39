"""What went wrong, computed after the run from the three books: the portal's database,
localstripe (the money Stripe holds) and the sandbox (the money and invoices Xero holds).

- lost_updates: invoices whose amount_paid differs from the sum of their live payments net
  of refunds, voided invoices holding a live payment, and invoices whose status disagrees
  with their amount due (``billing.invoices.invariants``, as the ledger check reads them);
- double_charges: invoices for which Stripe holds more succeeded-minus-refunded money than
  the invoice's total, and no overpayment record covers it;
- unresolved_overpayments: overpayment records (``billing.payments.overpayments``) not
  resolved, plus invoices that received more (Stripe's net plus Xero's "Pay now" payments)
  than they owe (the total; nothing once voided) with no overpayment record at all;
- ledger_mismatches: what ``flask billing reconcile --check`` reports (``check_ledgers``:
  the portal's own books first, then each synced invoice against its Xero twin);
- duplicate_numbers: invoice numbers used twice (in the portal, or on two live invoices in
  Xero) plus the numbers missing from the issued sequence.

Each count keeps the invoice numbers it found, for the report.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.cards.gateways import from_minor_units
from billing.db import ZERO
from billing.invoices.invariants import money_invariant_violations
from billing.invoices.model import Invoice, InvoiceStatus
from billing.invoices.numbering import InvoiceNumberSequence
from billing.payments.overpayments import Overpayment
from xero.admin.ledger_check import check_ledgers
from xero.models import XeroInvoiceLink

COUNTS = (
    "lost_updates",
    "double_charges",
    "unresolved_overpayments",
    "ledger_mismatches",
    "duplicate_numbers",
)


@dataclass
class Findings:
    #: count name -> what was found (invoice numbers, or a description).
    found: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in COUNTS})

    def counts(self) -> dict[str, int]:
        return {name: len(self.found[name]) for name in COUNTS}


def stripe_net_by_invoice(payment_intents: list[dict]) -> dict[int, Decimal]:
    """Succeeded minus refunded, per portal invoice id named in the intent's metadata."""
    net: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for intent in payment_intents:
        invoice_id = (intent.get("metadata") or {}).get("portal_invoice_id")
        if not invoice_id or intent.get("status") != "succeeded":
            continue
        currency = intent["currency"].upper()
        charges = (intent.get("charges") or {}).get("data") or []
        received = intent.get("amount_received") or intent["amount"]
        refunded = sum(c.get("amount_refunded") or 0 for c in charges)
        net[int(invoice_id)] += from_minor_units(received - refunded, currency)
    return net


def _overpayments(db: Session) -> tuple[set[int], list[str]]:
    """(invoice ids any overpayment record covers, the records not resolved yet)."""
    covered: set[int] = set()
    still_open: list[str] = []
    for record in db.scalars(select(Overpayment).order_by(Overpayment.id)):
        covered.add(record.invoice_id)
        if record.resolved_at is None:
            number = record.invoice.number or f"id {record.invoice_id}"
            still_open.append(f"{number}: overpayment {record.amount} {record.status}")
    return covered, still_open


def count(db: Session, xero_api, payment_intents: list[dict], sandbox, prefix: str) -> Findings:
    findings = Findings()
    invoices = list(db.scalars(select(Invoice).where(Invoice.number.is_not(None))))
    links = dict(
        db.execute(select(XeroInvoiceLink.invoice_id, XeroInvoiceLink.xero_invoice_id)).all()
    )
    stripe_net = stripe_net_by_invoice(payment_intents)
    paynow = _paynow_by_xero_invoice(sandbox)
    covered, still_open = _overpayments(db)

    for invoice in invoices:
        name = invoice.number or f"id {invoice.id}"
        in_stripe = stripe_net.get(invoice.id, ZERO)
        if in_stripe > invoice.total and invoice.id not in covered:
            findings.found["double_charges"].append(
                f"{name} ({invoice.status}): Stripe holds {in_stripe} of a {invoice.total} total"
            )
        # Paid twice across both sides (card and Xero's Pay now) with nothing on record.
        owed = ZERO if invoice.state is InvoiceStatus.VOIDED else invoice.total
        received = in_stripe + paynow.get((links.get(invoice.id) or "").lower(), ZERO)
        if received > owed and invoice.id not in covered:
            findings.found["unresolved_overpayments"].append(
                f"{name} ({invoice.status}): received {received} (Stripe {in_stripe}), "
                f"owed {owed}, no overpayment on record"
            )
    findings.found["unresolved_overpayments"] += still_open
    findings.found["lost_updates"] = [str(v) for v in money_invariant_violations(db)]

    result = check_ledgers(db, xero_api)
    findings.found["ledger_mismatches"] = [
        f"{v} (portal books)" for v in result.portal_violations
    ] + [str(m) for m in result.mismatches]
    findings.found["duplicate_numbers"] = _numbering_faults(db, invoices, sandbox, prefix)
    return findings


def _paynow_by_xero_invoice(sandbox) -> dict[str, Decimal]:
    """Standing payments made with "Pay now": those whose reference is a payment service's
    transaction (Pay now books the service's fee under the same reference)."""
    paid: dict[str, Decimal] = defaultdict(lambda: ZERO)
    with sandbox.lock:
        for org in sandbox.organisations.values():
            fees = {
                t.reference
                for t in org.bank_transactions.values()
                if t.type == "SPEND" and t.reference
            }
            for payment in org.payments.values():
                if payment.status == "AUTHORISED" and payment.reference in fees:
                    paid[payment.invoice_id.lower()] += payment.amount
    return paid


def _numbering_faults(db: Session, invoices: list[Invoice], sandbox, prefix: str) -> list[str]:
    faults: list[str] = []
    used = Counter(i.number for i in invoices)
    faults += [f"{n} used by {k} portal invoices" for n, k in used.items() if k > 1]
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)")
    issued = {int(m.group(1)) for n in used if n and (m := pattern.fullmatch(n))}
    last = db.scalar(
        select(func.coalesce(func.max(InvoiceNumberSequence.last_value), 0)).where(
            InvoiceNumberSequence.prefix == prefix
        )
    )
    top = max([last or 0, *issued])
    gaps = [n for n in range(1, top + 1) if n not in issued]
    faults += [f"{prefix}{n:05d} never issued (a gap)" for n in gaps]
    with sandbox.lock:
        in_xero = Counter(
            x.invoice_number
            for org in sandbox.organisations.values()
            for x in org.invoices.values()
            if x.status not in ("DELETED", "VOIDED")
        )
    faults += [f"{n} on {k} live Xero invoices" for n, k in in_xero.items() if k > 1]
    return faults
