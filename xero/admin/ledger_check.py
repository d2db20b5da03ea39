"""Do the portal and Xero agree? Every synced invoice is compared with its Xero twin:
status, total, amount paid, amount due, and each payment's amount and reference. The check
also finds issued invoices that never reached Xero, invoices in Xero for contacts linked to
customers that the portal does not know, and the portal's own books disagreeing with
themselves (``billing.invoices.invariants``: an amount paid that is not the sum of its
payments would make any comparison with Xero meaningless).

Reads only. Invoices are read 50 at a time by id (keyset: ``id > cursor ORDER BY id``),
without their lines, and each chunk costs one GET of Xero; Xero's invoices of linked
contacts are read 50 contacts at a time, a page of up to 1,000 summaries per GET. Memory
stays flat whatever the number of invoices.

At 20,000 invoices that is some 440 calls, minutes under Xero's 60 a minute: too long for a
web request. So a check is a **run** kept in the database (``LedgerCheckRun``), queued by
the page or the command line (``start_run``) and carried out a chunk at a time by
``LedgerCheckRunner.run_once``, which the background worker (``portal.worker.JobRunner``)
calls every round beside the sync jobs; ``flask billing reconcile --check`` drives the same
runner in its own process until the run is over. Each chunk is one unit of work, committed
with the run's progress and its findings, so a run survives a restart and a worker never
redoes more than the chunk it was carrying out.

The runner is a job runner like the outbox worker: a chunk is claimed by one conditional
UPDATE (the run's lease, ``locked_until``), so two workers never carry out the same chunk;
no transaction is open while Xero answers; when the ledger check's share of the rate budget
is spent (``ratelimit.LEDGER_CHECK_SHARE``) the run waits (``locked_until``) instead of
sleeping, and a 429 blocks the organisation for every worker as the sync worker does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from billing.customers import Customer
from billing.db import outside_transaction, utcnow
from billing.invoices.invariants import CENT, Violation, money_invariant_violations
from billing.invoices.model import Invoice, InvoiceStatus, Payment
from xero.api import ratelimit
from xero.api.errors import RateLimited, Retryable, XeroError
from xero.api.port import XeroPort
from xero.api.records import XeroInvoice
from xero.models import (
    FindingKind,
    LedgerCheckFinding,
    LedgerCheckRun,
    LedgerCheckStatus,
    XeroInvoiceLink,
)

log = logging.getLogger(__name__)

BATCH = 50
#: Summaries of linked contacts' invoices per GET (Xero's largest page).
CONTACT_PAGE_SIZE = 1000
#: Issued invoices: each should have reached Xero.
ISSUED = (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID, InvoiceStatus.VOIDED)
XERO_STATUS = {
    InvoiceStatus.AWAITING_PAYMENT: "AUTHORISED",
    InvoiceStatus.PAID: "PAID",
    InvoiceStatus.VOIDED: "VOIDED",
    InvoiceStatus.DELETED: "DELETED",
    InvoiceStatus.DRAFT: "DRAFT",
}
#: Calls Xero did not answer in a row before a run gives up (and how long it waits between).
MAX_FAILURES = 5
RETRY_WAIT = timedelta(minutes=1)
LEASE = timedelta(minutes=5)


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
    #: Issued invoices with no Xero twin.
    not_in_xero: list[Mismatch] = field(default_factory=list)
    #: Invoices in Xero, of contacts linked to customers, that the portal does not know.
    unknown_in_xero: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.mismatches or self.portal_violations or self.not_in_xero or self.unknown_in_xero
        )


@dataclass(frozen=True)
class PortalInvoice:
    """What the comparison needs of an invoice: no lines, its payments' net amounts only."""

    id: int
    number: str | None
    status: str
    total: Decimal
    amount_paid: Decimal
    xero_invoice_id: str | None
    #: (net amount, reference) of each payment that still counts something.
    payments: tuple[tuple[Decimal, str], ...] = ()

    @property
    def state(self) -> InvoiceStatus:
        return InvoiceStatus(self.status)

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def label(self) -> str:
        return self.number or f"draft {self.id}"


# -- reading the portal, a chunk at a time ---------------------------------------------------


def _in_scope() -> ColumnElement[bool]:
    """Issued invoices, and any invoice linked to Xero (a deleted draft has a twin too)."""
    return or_(Invoice.status.in_(ISSUED), XeroInvoiceLink.xero_invoice_id.is_not(None))


def invoices_to_check(db: Session) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Invoice)
            .outerjoin(XeroInvoiceLink, XeroInvoiceLink.invoice_id == Invoice.id)
            .where(_in_scope())
        )
        or 0
    )


def invoice_chunk(db: Session, after_id: int, size: int = BATCH) -> list[PortalInvoice]:
    """The next ``size`` invoices in scope after ``after_id``, by id, with their payments."""
    rows = db.execute(
        select(
            Invoice.id,
            Invoice.number,
            Invoice.status,
            Invoice.total,
            Invoice.amount_paid,
            XeroInvoiceLink.xero_invoice_id,
        )
        .outerjoin(XeroInvoiceLink, XeroInvoiceLink.invoice_id == Invoice.id)
        .where(Invoice.id > after_id, _in_scope())
        .order_by(Invoice.id)
        .limit(size)
    ).all()
    payments: dict[int, list[tuple[Decimal, str]]] = {}
    if rows:
        loaded = list(
            db.scalars(select(Payment).where(Payment.invoice_id.in_([r.id for r in rows])))
        )
        for p in loaded:
            if p.net_amount > 0:
                payments.setdefault(p.invoice_id, []).append((p.net_amount, p.reference or ""))
            db.expunge(p)  # nothing of the chunk stays in the session after it
    return [
        PortalInvoice(
            id=r.id,
            number=r.number,
            status=r.status,
            total=r.total,
            amount_paid=r.amount_paid,
            xero_invoice_id=r.xero_invoice_id,
            payments=tuple(payments.get(r.id, ())),
        )
        for r in rows
    ]


def contact_chunk(db: Session, after_id: int, size: int = BATCH) -> list[tuple[int, str]]:
    """(customer id, Xero contact id) of the next ``size`` linked customers after
    ``after_id``."""
    rows = db.execute(
        select(Customer.id, Customer.xero_contact_id)
        .where(Customer.id > after_id, Customer.xero_contact_id.is_not(None))
        .order_by(Customer.id)
        .limit(size)
    ).all()
    return [(customer_id, contact_id or "") for customer_id, contact_id in rows]


# -- comparing -------------------------------------------------------------------------------


def _payments_of_xero(x: XeroInvoice) -> list[tuple[Decimal, str]]:
    return sorted((p.amount, p.reference) for p in x.payments if p.status != "DELETED")


def compare(invoice: PortalInvoice, x: XeroInvoice) -> list[Mismatch]:
    number = invoice.label
    found = []

    def differ(what: str, portal: object, xero: object) -> None:
        if portal != xero:
            found.append(Mismatch(number, what, str(portal), str(xero)))

    differ("status", XERO_STATUS[invoice.state], x.status)
    differ("total", invoice.total, x.total)
    differ("amount paid", invoice.amount_paid, x.amount_paid)
    differ("amount due", invoice.amount_due, x.amount_due)
    portal_payments, xero_payments = sorted(invoice.payments), _payments_of_xero(x)
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


def check_chunk(
    api: XeroPort, chunk: Sequence[PortalInvoice]
) -> tuple[list[Mismatch], list[Mismatch]]:
    """(mismatches, issued invoices not in Xero) of one chunk: one GET for its linked ones."""
    linked = [i for i in chunk if i.xero_invoice_id]
    not_in_xero = [
        Mismatch(i.label, "presence", "issued", "never reached Xero")
        for i in chunk
        if not i.xero_invoice_id
    ]
    mismatches: list[Mismatch] = []
    if linked:
        answer = api.get_invoices_by_ids([i.xero_invoice_id or "" for i in linked])
        by_id = {x.invoice_id.lower(): x for x in answer}
        for invoice in linked:
            x = by_id.get((invoice.xero_invoice_id or "").lower())
            if x is None:
                mismatches.append(
                    Mismatch(invoice.label, "presence", "synced", "missing from Xero")
                )
            else:
                mismatches.extend(compare(invoice, x))
    return mismatches, not_in_xero


def _money(amount: Decimal | None) -> str:
    return "an unknown total" if amount is None else str(amount.quantize(CENT))


def unknown_invoices(
    db: Session, api: XeroPort, contact_ids: Sequence[str], page: int
) -> tuple[list[Mismatch], bool]:
    """Invoices on one page of these contacts' invoices in Xero that no portal invoice is
    linked to (deleted ones aside), and whether the page was full (another may follow)."""
    answer = api.get_invoices_of_contacts(contact_ids, page, CONTACT_PAGE_SIZE)
    ids = [x.invoice_id for x in answer]
    known = set()
    if ids:
        known = {
            (link_id or "").lower()
            for link_id in db.scalars(
                select(XeroInvoiceLink.xero_invoice_id).where(
                    XeroInvoiceLink.xero_invoice_id.in_(sorted({*ids, *(i.lower() for i in ids)}))
                )
            )
        }
    unknown = [
        Mismatch(
            x.number or x.invoice_id,
            "presence",
            "unknown to the portal",
            f"{x.status} for {_money(x.total)}",
        )
        for x in answer
        if x.status != "DELETED" and x.invoice_id.lower() not in known
    ]
    return unknown, len(answer) >= CONTACT_PAGE_SIZE


def check_ledgers(db: Session, api: XeroPort) -> CheckResult:
    """The whole check in this process, chunk by chunk, keeping nothing (tests, the stress
    scenario). No transaction stays open during a call."""
    result = CheckResult(checked=0, mismatches=[], portal_violations=[])
    cursor = 0
    while chunk := invoice_chunk(db, cursor):
        outside_transaction(db)
        mismatches, missing = check_chunk(api, chunk)
        result.mismatches.extend(mismatches)
        result.not_in_xero.extend(missing)
        result.checked += len(chunk)
        cursor = chunk[-1].id
    contact_cursor = 0
    while contacts := contact_chunk(db, contact_cursor):
        outside_transaction(db)
        page = 1
        while True:
            unknown, full = unknown_invoices(db, api, [c for _, c in contacts], page)
            result.unknown_in_xero.extend(unknown)
            if not full:
                break
            page += 1
        contact_cursor = contacts[-1][0]
    result.portal_violations = money_invariant_violations(db)
    return result


# -- runs kept in the database ---------------------------------------------------------------


def active_run(db: Session) -> LedgerCheckRun | None:
    return db.scalar(select(LedgerCheckRun).where(LedgerCheckRun.active.is_(True)))


def latest_run(db: Session) -> LedgerCheckRun | None:
    return db.scalar(select(LedgerCheckRun).order_by(LedgerCheckRun.id.desc()).limit(1))


def start_run(db: Session, started_by_id: int | None, now: datetime) -> LedgerCheckRun:
    """Queue a run, or give back the one already queued or running (only one at a time:
    the unique ``active`` column decides between two that start at once). Flushes."""
    existing = active_run(db)
    if existing is not None:
        return existing
    run = LedgerCheckRun(
        started_by_id=started_by_id, created_at=now, total=invoices_to_check(db), active=True
    )
    try:
        with db.begin_nested():
            db.add(run)
    except IntegrityError:
        existing = active_run(db)
        if existing is None:
            raise
        return existing
    return run


def findings_of(
    db: Session, run: LedgerCheckRun, kind: FindingKind, limit: int | None = None
) -> list[LedgerCheckFinding]:
    stmt = (
        select(LedgerCheckFinding)
        .where(LedgerCheckFinding.run_id == run.id, LedgerCheckFinding.kind == kind)
        .order_by(LedgerCheckFinding.id)
    )
    return list(db.scalars(stmt.limit(limit) if limit is not None else stmt))


def finding_counts(db: Session, run: LedgerCheckRun) -> dict[str, int]:
    rows = db.execute(
        select(LedgerCheckFinding.kind, func.count())
        .where(LedgerCheckFinding.run_id == run.id)
        .group_by(LedgerCheckFinding.kind)
    ).all()
    counts = {kind.value: 0 for kind in FindingKind}
    counts.update({kind: n for kind, n in rows})
    return counts


def _finding(run: LedgerCheckRun, kind: FindingKind, m: Mismatch) -> LedgerCheckFinding:
    return LedgerCheckFinding(
        run_id=run.id,
        kind=kind,
        invoice_number=m.invoice_number,
        what=m.what,
        portal=m.portal,
        xero=m.xero,
    )


class LedgerCheckRunner:
    """Carries out the run under way, one chunk per ``run_once`` (see the module's
    docstring). ``connect`` gives an API held to the ledger check's share of the budget
    (``XeroIntegration.ledger_check_api``)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        connect: Callable[[Session], XeroPort],
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
        chunk_size: int = BATCH,
    ):
        self.session_factory = session_factory
        self.connect = connect
        self.clock = clock
        self.lease = lease
        self.chunk_size = chunk_size

    def drain(self, max_rounds: int = 100_000) -> int:
        """Chunks until the run is over or has to wait (tests)."""
        done = 0
        for _ in range(max_rounds):
            if not self.run_once():
                break
            done += 1
        return done

    def due_at(self) -> datetime | None:
        """When the run under way can take its next chunk (None: no run): now, or when
        its lease or rate-limit wait ends. The worker's rounds are timed by it."""
        with self.session_factory() as db:
            row = db.execute(
                select(LedgerCheckRun.locked_until).where(LedgerCheckRun.active.is_(True))
            ).first()
        if row is None:
            return None
        return row[0] or self.clock()

    def run_once(self) -> int:
        """One chunk of the run under way if it is due and free; 1 if a chunk was done."""
        now = self.clock()
        with self.session_factory() as db:
            run_id = db.scalar(select(LedgerCheckRun.id).where(LedgerCheckRun.active.is_(True)))
            if run_id is None or not self._claim(db, run_id, now):
                return 0
            run = db.get(LedgerCheckRun, run_id, populate_existing=True)
            assert run is not None
            try:
                self._step(db, run, now)
            except XeroError as error:
                db.rollback()
                run = db.get(LedgerCheckRun, run_id, populate_existing=True)
                assert run is not None
                self._wait_or_fail(db, run, error, now)
                db.commit()
                return 0
            run.locked_until = None
            run.failures = 0
            db.commit()
            return 1

    def _claim(self, db: Session, run_id: int, now: datetime) -> bool:
        """Take the run's lease with one conditional UPDATE: of two workers, one wins."""
        claimed = db.execute(
            update(LedgerCheckRun)
            .where(
                LedgerCheckRun.id == run_id,
                LedgerCheckRun.active.is_(True),
                or_(LedgerCheckRun.locked_until.is_(None), LedgerCheckRun.locked_until <= now),
            )
            .values(
                locked_until=now + self.lease,
                status=LedgerCheckStatus.RUNNING,
                started_at=func.coalesce(LedgerCheckRun.started_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return bool(getattr(claimed, "rowcount", 0))

    def _step(self, db: Session, run: LedgerCheckRun, now: datetime) -> None:
        if not run.invoices_done:
            chunk = invoice_chunk(db, run.cursor, self.chunk_size)
            if chunk:
                api = self.connect(db)
                db.commit()  # no transaction open while Xero answers
                mismatches, missing = check_chunk(api, chunk)
                db.add_all(_finding(run, FindingKind.MISMATCH, m) for m in mismatches)
                db.add_all(_finding(run, FindingKind.NOT_IN_XERO, m) for m in missing)
                run.cursor = chunk[-1].id
                run.checked += len(chunk)
                run.total = max(run.total, run.checked)
            if len(chunk) < self.chunk_size:
                run.invoices_done = True
            return
        contacts = contact_chunk(db, run.contact_cursor, self.chunk_size)
        if contacts:
            api = self.connect(db)
            db.commit()
            unknown, full = unknown_invoices(db, api, [c for _, c in contacts], run.contact_page)
            db.add_all(_finding(run, FindingKind.UNKNOWN_IN_XERO, m) for m in unknown)
            if full:
                run.contact_page += 1
                return
            run.contact_cursor, run.contact_page = contacts[-1][0], 1
        if len(contacts) < self.chunk_size:
            self._finish(db, run, now)

    def _finish(self, db: Session, run: LedgerCheckRun, now: datetime) -> None:
        for v in money_invariant_violations(db):
            db.add(
                LedgerCheckFinding(
                    run_id=run.id,
                    kind=FindingKind.PORTAL,
                    invoice_id=v.invoice_id,
                    invoice_number=v.invoice_number or f"draft {v.invoice_id}",
                    what=v.what,
                )
            )
        run.status = LedgerCheckStatus.DONE
        run.active = None
        run.finished_at = self.clock()

    def _wait_or_fail(
        self, db: Session, run: LedgerCheckRun, error: XeroError, now: datetime
    ) -> None:
        if isinstance(error, RateLimited):
            until = now + timedelta(seconds=error.retry_after)
            if error.whole_organisation:
                from xero.api.tokens import active_connection

                connection = active_connection(db)
                if connection is not None:
                    ratelimit.block(db, connection.tenant_id, until, now)
            run.locked_until = until
            return
        log.warning("ledger check run %s: %s", run.id, error)
        run.failures += 1
        run.error = str(error)
        if isinstance(error, Retryable) and run.failures < MAX_FAILURES:
            run.locked_until = now + RETRY_WAIT * run.failures
            return
        run.status = LedgerCheckStatus.FAILED
        run.active = None
        run.locked_until = None
        run.finished_at = now


def result_of(db: Session, run: LedgerCheckRun) -> CheckResult:
    """A finished run's findings as a ``CheckResult`` (the command line prints it)."""

    def mismatches(kind: FindingKind) -> list[Mismatch]:
        return [
            Mismatch(f.invoice_number, f.what, f.portal, f.xero) for f in findings_of(db, run, kind)
        ]

    return CheckResult(
        checked=run.checked,
        mismatches=mismatches(FindingKind.MISMATCH),
        portal_violations=[
            Violation(f.invoice_id or 0, f.invoice_number, f.what)
            for f in findings_of(db, run, FindingKind.PORTAL)
        ],
        not_in_xero=mismatches(FindingKind.NOT_IN_XERO),
        unknown_in_xero=mismatches(FindingKind.UNKNOWN_IN_XERO),
    )
