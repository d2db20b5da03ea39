"""The ledger check over 20,000 synced invoices, in the background, under Xero's limits.

The data (issue 10's size L): 2,000 customers linked to Xero contacts, 20,000 issued
invoices of 3 lines each (60,000 lines), every other one paid (10,000 payments), each
linked to its twin in the sandbox. Building that through the project's operations and the
sync worker would take the sandbox ~1,000 calls and many minutes, so the rows are
bulk-inserted on both sides instead: portal rows straight into the tables, the sandbox's
contacts, invoices and payments straight into its state, with the same figures. A few
differences are planted, so the check is seen to find what it should and nothing else:
invoices voided in Xero only, issued invoices that never reached Xero, and invoices made in
Xero by hand for linked contacts.

Then a run is queued (``start_run``, as the page and the CLI do) and the background worker
(``portal.worker.JobRunner``: inbox, sync jobs, a ledger-check chunk per round) carries it
out against the sandbox served in-process, both limits on (the sandbox enforces 60 calls a
minute; the portal keeps its own budget, of which the check takes its share). Time is
SIMULATED: whenever the run waits for the rate budget the clock (the sandbox's ``Clock``,
also the portal's) is moved to when it may go on, instead of sleeping.

Reported: ``ledger_check_20k_s``, the simulated seconds from queueing to done (real
processing time plus the waits skipped); ``ledger_check_peak_rss_mib``, the process's
peak resident memory while the check runs (sampled after each round; the in-process sandbox
holding 20,000 invoices is part of it) and ``ledger_check_rss_growth_mib``, how much that
grew over the run (flat: chunks, not everything at once); ``xero_calls``, counted by the
portal and cross-checked with the requests the sandbox received. Target: <= 600 simulated
seconds. Nothing is asserted about time; a wrong result (findings other than the planted
ones) raises.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from bench.wiring import PortalOnSandbox
from billing.customers import Customer
from billing.invoices.model import Invoice, InvoiceLine, InvoiceStatus, Payment
from portal.worker import JobRunner
from xero.admin.ledger_check import result_of, start_run
from xero.models import LedgerCheckRun, LedgerCheckStatus, XeroInvoiceLink
from xero_sandbox.state import Contact as SandboxContact
from xero_sandbox.state import Invoice as SandboxInvoice
from xero_sandbox.state import Payment as SandboxPayment
from xero_sandbox.state import new_id

SCENARIO = "ledger_check_20k"
CUSTOMERS = 2_000
INVOICES = 20_000
LINES = 3
TARGET_S = 600.0
#: Planted differences: every VOIDED_EVERY-th invoice voided in Xero only, the last
#: NEVER_SENT invoices issued but never sent, HAND_MADE invoices made in Xero by hand.
VOIDED_EVERY = 5_000
NEVER_SENT = 3
HAND_MADE = 2
ISSUE_DATE = date(2026, 11, 2)
UNIT = Decimal("24.95")
TAX = Decimal("4.99")  # 20% of 24.95, rounded half-up per line
CHUNK_ROWS = 5_000


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(env: PortalOnSandbox) -> dict[str, int]:
    """Bulk-insert the portal's rows and the sandbox's twins; returns what was planted."""
    org, now = env.org, env.clock.now()
    bank = org.account_by_code("090")
    assert bank is not None
    subtotal, tax = UNIT * LINES, TAX * LINES
    total = subtotal + tax
    contacts = [new_id() for _ in range(CUSTOMERS)]
    with env.Session() as db, db.begin():
        rate_percent = Decimal("20")
        db.execute(
            insert(Customer),
            [
                {"id": n + 1, "name": f"Customer {n + 1:05d}", "xero_contact_id": contacts[n]}
                for n in range(CUSTOMERS)
            ],
        )
        invoices, lines, payments, links = [], [], [], []
        for n in range(1, INVOICES + 1):
            customer = (n - 1) % CUSTOMERS
            sent = n <= INVOICES - NEVER_SENT
            paid = sent and n % 2 == 0
            number = f"INV-{n:06d}"
            invoices.append(
                {
                    "id": n,
                    "number": number,
                    "customer_id": customer + 1,
                    "status": InvoiceStatus.PAID if paid else InvoiceStatus.AWAITING_PAYMENT,
                    "currency": "GBP",
                    "issue_date": ISSUE_DATE,
                    "due_date": ISSUE_DATE + timedelta(days=14),
                    "subtotal": subtotal,
                    "total_tax": tax,
                    "total": total,
                    "amount_paid": total if paid else Decimal("0.00"),
                    "issued_at": env.clock.utcnow(),
                }
            )
            for position in range(LINES):
                lines.append(
                    {
                        "invoice_id": n,
                        "position": position,
                        "service_id": env.tax.desk_id,
                        "description": "Hot desk (day)",
                        "quantity": Decimal(1),
                        "unit_price": UNIT,
                        "account_code": "200",
                        "tax_rate_id": env.tax.standard_id,
                        "tax_rate_percent": rate_percent,
                        "line_amount": UNIT,
                        "tax_amount": TAX,
                    }
                )
            if not sent:
                continue  # issued, never reached Xero (and not paid)
            xero_id = new_id()
            payment_ids = []
            if paid:
                payment_id, reference = new_id(), f"ch_{n}"
                payments.append(
                    {
                        "invoice_id": n,
                        "amount": total,
                        "currency": "GBP",
                        "paid_on": ISSUE_DATE,
                        "method": "card",
                        "reference": reference,
                        "xero_payment_id": payment_id,
                    }
                )
                org.payments[payment_id] = SandboxPayment(
                    payment_id, xero_id, bank.account_id, total, ISSUE_DATE, reference, now
                )
                payment_ids.append(payment_id)
            org.invoices[xero_id] = SandboxInvoice(
                invoice_id=xero_id,
                type="ACCREC",
                contact_id=contacts[customer],
                invoice_number=number,
                status=("VOIDED" if n % VOIDED_EVERY == 1 else ("PAID" if paid else "AUTHORISED")),
                date=ISSUE_DATE,
                due_date=ISSUE_DATE + timedelta(days=14),
                line_amount_types="Exclusive",
                currency_code="GBP",
                line_items=[],
                created=now,
                updated=now,
                sub_total=subtotal,
                total_tax=tax,
                total=total,
                amount_paid=total if paid else Decimal("0.00"),
                payment_ids=payment_ids,
            )
            links.append({"invoice_id": n, "xero_invoice_id": xero_id, "xero_status": "AUTHORISED"})
        for table, rows in (
            (Invoice, invoices),
            (InvoiceLine, lines),
            (Payment, payments),
            (XeroInvoiceLink, links),
        ):
            for start in range(0, len(rows), CHUNK_ROWS):
                db.execute(insert(table), rows[start : start + CHUNK_ROWS])
    for n in range(CUSTOMERS):
        org.contacts[contacts[n]] = SandboxContact(contacts[n], f"Customer {n + 1:05d}", now)
    for n in range(HAND_MADE):
        xero_id = new_id()
        org.invoices[xero_id] = SandboxInvoice(
            invoice_id=xero_id,
            type="ACCREC",
            contact_id=contacts[n * 7],
            invoice_number=f"BY-HAND-{n + 1}",
            status="AUTHORISED",
            date=ISSUE_DATE,
            due_date=ISSUE_DATE,
            line_amount_types="Exclusive",
            currency_code="GBP",
            line_items=[],
            created=now,
            updated=now,
            total=Decimal("10.00"),
        )
    voided = len([n for n in range(1, INVOICES - NEVER_SENT + 1) if n % VOIDED_EVERY == 1])
    return {"voided_in_xero": voided, "never_sent": NEVER_SENT, "hand_made": HAND_MADE}


def run_check(env: PortalOnSandbox) -> dict[str, float | int]:
    runner = JobRunner(env.service, env.handlers)
    calls, requests = env.service.counter.calls, env.tally.requests
    started_simulated, started_real = env.clock.now(), time.perf_counter()
    with env.Session() as db, db.begin():
        run_id = start_run(db, None, env.clock.utcnow()).id
    rss_start = peak = _rss_mib()
    waited = 0.0
    while True:
        did = runner.run_once()
        peak = max(peak, _rss_mib())
        with env.Session() as db:
            run = db.get(LedgerCheckRun, run_id)
        assert run is not None
        if run.finished:
            break
        if did:
            continue
        assert run.locked_until is not None, "the run waits for nothing and does nothing"
        wait = (run.locked_until - env.clock.utcnow()).total_seconds()
        if wait > 0:
            env.clock.advance(wait + 0.001)
            waited += wait
        if env.clock.now() - started_simulated > 4 * TARGET_S:
            raise RuntimeError(f"ledger check not done after {4 * TARGET_S:.0f} simulated s")
    if run.status != LedgerCheckStatus.DONE:
        raise RuntimeError(f"ledger check failed: {run.error}")
    with env.Session() as db:
        result = result_of(db, run)
    return {
        "simulated_s": env.clock.now() - started_simulated,
        "real_s": time.perf_counter() - started_real,
        "waited_s": waited,
        "peak_rss_mib": peak,
        "rss_growth_mib": peak - rss_start,
        "xero_calls": env.service.counter.calls - calls,
        "sandbox_requests": env.tally.requests - requests,
        "refused": env.tally.refused(),
        "checked": result.checked,
        "mismatches": len(result.mismatches),
        "not_in_xero": len(result.not_in_xero),
        "unknown_in_xero": len(result.unknown_in_xero),
        "portal_violations": len(result.portal_violations),
    }


def verify(planted: dict[str, int], figures: dict[str, float | int]) -> list[str]:
    problems = []
    expected = {
        "checked": INVOICES,
        # Voided in Xero only: its status and its amount due differ (paid ones: also paid).
        "not_in_xero": planted["never_sent"],
        "unknown_in_xero": planted["hand_made"],
        "portal_violations": 0,
    }
    for key, value in expected.items():
        if figures[key] != value:
            problems.append(f"{key}: {figures[key]}, expected {value}")
    if not figures["mismatches"] or figures["mismatches"] < planted["voided_in_xero"]:
        problems.append(
            f"mismatches: {figures['mismatches']} for {planted['voided_in_xero']} voided"
        )
    if figures["xero_calls"] != figures["sandbox_requests"]:
        problems.append(
            f"portal counted {figures['xero_calls']} calls, "
            f"sandbox got {figures['sandbox_requests']}"
        )
    return problems


def run_20k() -> dict:
    """Build, check, verify; the figures the lead folds into ``pages_20k``."""
    with tempfile.TemporaryDirectory(prefix="bench-ledger-check-") as tmp:
        env = PortalOnSandbox(Path(tmp), rate_limited=True)
        try:
            planted = build(env)
            figures = run_check(env)
        finally:
            env.close()
    problems = verify(planted, figures)
    if problems:
        raise RuntimeError("ledger check gave a wrong result: " + "; ".join(problems))
    return {
        "ledger_check_20k_s": round(float(figures["simulated_s"]), 1),
        "ledger_check_peak_rss_mib": round(float(figures["peak_rss_mib"]), 1),
        "ledger_check_rss_growth_mib": round(float(figures["rss_growth_mib"]), 1),
        "xero_calls": int(figures["xero_calls"]),
        "ledger_check_real_s": round(float(figures["real_s"]), 1),
    }


def main() -> int:
    figures = run_20k()
    met = figures["ledger_check_20k_s"] <= TARGET_S
    print(
        f"ledger check, {INVOICES} invoices: {figures['ledger_check_20k_s']} simulated s "
        f"({'meets' if met else 'misses'} <= {TARGET_S:.0f}), {figures['xero_calls']} Xero "
        f"calls, peak RSS {figures['ledger_check_peak_rss_mib']} MiB "
        f"(+{figures['ledger_check_rss_growth_mib']} MiB over the run)"
    )
    print(json.dumps({"scenario": SCENARIO, **figures}))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
