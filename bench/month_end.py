"""Month-end: 1,000 invoices for 300 customers reach Xero as AUTHORISED.

The scenario (from the issue): 300 customers, of whom 100 are new to Xero with a blank
ledger code, 100 are new with a ledger code Xero does not have, and 100 are already linked
(their contacts exist in Xero and the customers carry the contact id). 1,000 invoices
(three per customer and a fourth for 100 of them, one or two lines each) are issued through
``billing.invoices.operations`` (``create_draft`` + ``issue_invoice``, one committed transaction
each, so the outbox writes one sync job per invoice) in a seeded random order, as when
several admins work through a month-end. The worker then syncs them to a sandbox served
in-process over HTTP, through the real xero-python client.

What is measured, twice, each time on a fresh SQLite database and a fresh sandbox:

1. Limits off (sandbox limits disabled, portal budget unlimited): ``xero_calls`` is the
   number of batched calls (everything but the deferred one-call-per-object jobs) that
   reached the sandbox until every INVOICE job is done, counted by the service's
   ``CallCounter`` and cross-checked with the requests the sandbox server received and
   with the sandbox's own rate-limit accounting; ``wall_s`` is the real time that took.
   The deferred jobs (online invoice links, contact history notes, invoice emails), which
   the worker only runs in rounds where nothing else is due, are reported apart as
   ``deferred_calls``: the calls they made before the last invoice was done plus the
   backlog then waiting (one call per job).
2. Limits on: the sandbox enforces 60 calls a minute per organisation and the portal keeps
   its own budget (``XeroIntegration(per_minute=60)``). Time is SIMULATED: the sandbox's
   ``Clock`` (real time plus an offset) is also the worker's clock, and whenever the
   worker has nothing due the benchmark moves that clock forward to the earliest
   ``next_attempt_at`` instead of sleeping. ``rate_limited_wall_s`` is the clock's
   elapsed time until every invoice is AUTHORISED: the real processing time plus the
   waits that were skipped, i.e. what a real run under Xero's limit would take. The run
   then watches the deferred backlog for 3 simulated minutes (30 s real at most) and
   projects how long it takes to drain; a deferred job done twice, stuck, or a history
   note written twice is printed as a PROBLEM (outside the scenario's figures, not fatal).

``payable_s`` (rate-limited run, simulated clock): seconds from the worker's start (all
1,000 invoices issued, as when the admins finish month end) until every invoice can be paid
both ways. By card in the portal an invoice is payable from the moment it is issued. Via
Xero it is payable once its online link is stored, or once the invoice is in Xero and its
link can be fetched when the member asks: the pay-via-Xero address fetches it on demand from
the calls a minute background work never uses (``ratelimit.MEMBER_RESERVE``, 3 of 60). So
``payable_s`` is the moment the last invoice was in Xero, and it is reported only if, at that
moment (the minute's budget taken by the follow-ups), a member's on-demand fetch of the last
invoice's link succeeded (``member_link_on_demand``); it is null otherwise. The reserve is
what members always find: three members a minute get their link at once whatever the
background does; more in the same minute share what it leaves (at month end the follow-ups
stop at 40 of 60), the rest are told the link is on its way. The background still fetches
every link (``deferred_drain_projected_rate_limited_s`` projects when the last is stored).

Afterwards each run checks its result: exactly 1,000 AUTHORISED invoices in the sandbox,
each with the portal's number, totals and contact; 300 contacts, no duplicate name, code
or link; every invoice job done; the portal's call count equal to the requests the sandbox
received. A wrong result is printed and exits non-zero, with no figures.
Nothing about time is asserted: the targets (``xero_calls <= 30``,
``rate_limited_wall_s <= 60``) are printed as met or not.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from bench.wiring import PER_DAY, PER_MINUTE, PortalOnSandbox
from billing.customers import Customer, CustomerDetails, create_customer
from billing.invoices.model import Invoice
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.services import Service
from billing.tax import LineAmountType
from xero.api import ratelimit
from xero.models import JobKind, JobStatus, SyncJob, XeroInvoiceLink
from xero.sync import online_links
from xero.sync.worker import DEFERRED
from xero_sandbox.state import Contact, HistoryRecord, new_id

SCENARIO = "month_end_1000"
INVOICES = 1000
NEW_BLANK, NEW_CODED, LINKED = 100, 100, 100
CUSTOMERS = NEW_BLANK + NEW_CODED + LINKED
SEED = 20261130
MONTH_END = date(2026, 11, 30)
TARGET_CALLS = 30
TARGET_RATE_LIMITED_S = 60.0
TARGET_PAYABLE_S = 60.0
#: The one-call-per-object jobs the worker defers (the worker's own list), the SDK methods
#: they call and the sandbox routes those reach.
DEFERRED_KINDS: tuple[str, ...] = tuple(DEFERRED)
DEFERRED_METHODS = frozenset({"get_online_invoice", "email_invoice", "create_contact_history"})
DEFERRED_ROUTE_ENDINGS = ("/OnlineInvoice", "/Email", "/History")
#: Simulated seconds after which the invoices are stuck, not slow (a naive one-call-per-
#: invoice sync needs about 25 minutes under the limit).
INVOICES_GIVE_UP_S = 60 * 60.0
#: After the invoices, the rate-limited run watches the deferred backlog for this much
#: simulated time (or this much real time, whichever ends first) and projects its drain:
#: draining all of it (~1,200 calls at 60 a minute) would cost minutes of real time.
DEFERRED_PROBE_S = 180.0
DEFERRED_PROBE_REAL_S = 30.0


class WrongResult(Exception):
    """The sync did not produce what it must; the benchmark has no number to give."""


# -- the scenario ----------------------------------------------------------------------------


@dataclass
class IssuedInvoice:
    invoice_id: int
    number: str
    customer_id: int
    subtotal: Decimal
    total_tax: Decimal
    total: Decimal


def add_customers(env: PortalOnSandbox) -> list[int]:
    """300 customers; the last 100 linked to contacts that already exist in the sandbox."""
    ids = []
    with env.Session() as db, db.begin():
        for n in range(CUSTOMERS):
            if n < NEW_BLANK:
                name, code = f"Blank Ledger Studio {n:03d}", None
            elif n < NEW_BLANK + NEW_CODED:
                name, code = f"Coded Newcomer Ltd {n:03d}", f"NEW-{n:04d}"
            else:
                name, code = f"Linked Member Co {n:03d}", f"LNK-{n:04d}"
            customer = create_customer(
                db,
                CustomerDetails(
                    name=name,
                    contact_name=f"Accounts {n:03d}",
                    email=f"accounts+{n:03d}@member{n:03d}.example",
                    phone=f"+44 20 7946 {n:04d}",
                    address=f"{n} Station Road\nFloor {n % 7 + 1}\nLondon",
                    ledger_code=code,
                ),
            )
            if code and code.startswith("LNK-"):
                customer.xero_contact_id = _existing_contact(env, customer)
            ids.append(customer.id)
    return ids


def _existing_contact(env: PortalOnSandbox, customer: Customer) -> str:
    """A contact the organisation already had in Xero, put straight into the sandbox."""
    now = env.clock.now()
    contact = Contact(
        new_id(),
        customer.name,
        now,
        contact_number=customer.ledger_code,
        email_address=customer.email,
    )
    contact.history.append(
        HistoryRecord("Created", f"Contact {contact.name} created.", "Bench", now)
    )
    with env.sandbox.lock:
        env.org.contacts[contact.contact_id] = contact
    return contact.contact_id


def invoice_plan(customer_ids: list[int], rng: random.Random) -> list[int]:
    """Whose invoice each of the 1,000 is, in issuing order."""
    plan = [c for c in customer_ids for _ in range(3)]
    plan += rng.sample(customer_ids, INVOICES - len(plan))
    rng.shuffle(plan)
    return plan


def issue_invoices(
    env: PortalOnSandbox, plan: list[int], rng: random.Random
) -> list[IssuedInvoice]:
    issued = []
    for customer_id in plan:
        desk_quantity = Decimal(rng.randint(1, 22))
        room_quantity = rng.choice([None, Decimal("0.5"), Decimal("1.5"), Decimal("3.25")])
        with env.Session() as db, db.begin():
            desk = db.get(Service, env.tax.desk_id)
            lines = [DraftLine(desk.id, desk.name, desk_quantity, desk.unit_price)]
            if room_quantity is not None:
                room = db.get(Service, env.tax.room_id)
                lines.append(DraftLine(room.id, room.name, room_quantity, room.unit_price))
            draft = create_draft(
                db,
                DraftDetails(
                    customer_id=customer_id,
                    currency="GBP",
                    line_amount_type=LineAmountType.EXCLUSIVE,
                    issue_date=MONTH_END,
                    lines=lines,
                    reference=f"Membership {MONTH_END:%B %Y}",
                ),
            )
            invoice = issue_invoice(db, draft, prefix="INV-", today=MONTH_END)
            issued.append(
                IssuedInvoice(
                    invoice.id,
                    invoice.number or "",
                    customer_id,
                    invoice.subtotal,
                    invoice.total_tax,
                    invoice.total,
                )
            )
    return issued


# -- running the worker ----------------------------------------------------------------------


@dataclass
class Snapshot:
    """The counters at one moment of a run."""

    real_s: float
    simulated_s: float
    waited_s: float
    rounds: int
    calls: int
    by_method: Counter[str]
    received: int
    by_route: Counter[str]
    refused_429: int
    accepted_by_sandbox: int

    @property
    def batched_calls(self) -> int:
        return self.calls - self.deferred_calls

    @property
    def deferred_calls(self) -> int:
        return sum(n for method, n in self.by_method.items() if method in DEFERRED_METHODS)


@dataclass
class RunResult:
    label: str
    rate_limited: bool
    issue_s: float
    invoices_done: Snapshot
    #: When the deferred backlog was empty too, or when the benchmark stopped waiting for
    #: it (the same as ``invoices_done`` when it was not run).
    all_done: Snapshot
    #: Deferred jobs still waiting when the last invoice was done (each is one call).
    deferred_backlog: int
    jobs_by_kind: Counter[str] = field(default_factory=Counter)
    #: The deferred jobs watched under the rate limit (None when not watched).
    probe: DeferredProbe | None = None
    #: Whether a member asking for the last invoice's online link when every invoice was
    #: in Xero got it at once (None when not tried: limits off).
    member_link_on_demand: bool | None = None

    @property
    def deferred_calls(self) -> int:
        """Deferred calls made before the invoices were done, plus the backlog's."""
        return self.invoices_done.deferred_calls + self.deferred_backlog


@dataclass
class DeferredProbe:
    """The deferred backlog under the rate limit, watched for a while after the invoices."""

    simulated_s: float
    real_s: float
    jobs_done: int
    calls: int
    refused_429: int
    ended: str
    #: What went wrong with the deferred jobs (reported, not fatal: outside the scenario).
    problems: list[str] = field(default_factory=list)

    def projected_drain_s(self, backlog: int) -> float | None:
        if not self.jobs_done:
            return None
        return backlog * self.simulated_s / self.jobs_done


class Unfinished(WrongResult):
    pass


class Runner:
    """Drives the worker one round at a time; with nothing due, moves the clock on."""

    def __init__(self, env: PortalOnSandbox):
        self.env = env
        self.worker = env.service.worker()
        self.started_real = time.perf_counter()
        self.started_simulated = env.clock.now()
        self.waited = 0.0
        self.rounds = 0

    def until(self, finished, give_up_after_s: float, real_s: float | None = None) -> Snapshot:
        """Run rounds until ``finished()``; give up after that much simulated (or real) time."""
        deadline = self.env.clock.now() + give_up_after_s
        real_deadline = time.perf_counter() + real_s if real_s is not None else None
        while not finished():
            if real_deadline is not None and time.perf_counter() > real_deadline:
                raise Unfinished(
                    f"not done after {real_s:.0f} s of real time: {job_summary(self.env)}"
                )
            self.rounds += 1
            if self.worker.drain(max_rounds=1):
                continue
            wait = self._seconds_until_next_due()
            if wait is None:
                raise Unfinished(f"nothing due and nothing scheduled: {job_summary(self.env)}")
            if wait <= 0:
                raise Unfinished(f"jobs are due but the worker took none: {job_summary(self.env)}")
            self.env.clock.advance(wait)
            self.waited += wait
            if self.env.clock.now() > deadline:
                raise Unfinished(
                    f"not done {give_up_after_s / 60:.0f} simulated minutes later: "
                    f"{job_summary(self.env)}"
                )
        return self.snapshot()

    def _seconds_until_next_due(self) -> float | None:
        with self.env.Session() as db:
            pending = db.scalar(
                select(func.min(SyncJob.next_attempt_at)).where(SyncJob.status == JobStatus.PENDING)
            )
            leased = db.scalar(
                select(func.min(SyncJob.locked_until)).where(SyncJob.status == JobStatus.RUNNING)
            )
        times = [t for t in (pending, leased) if t is not None]
        if not times:
            return None
        return (min(times) - self.env.clock.utcnow()).total_seconds()

    def snapshot(self) -> Snapshot:
        env = self.env
        return Snapshot(
            real_s=time.perf_counter() - self.started_real,
            simulated_s=env.clock.now() - self.started_simulated,
            waited_s=self.waited,
            rounds=self.rounds,
            calls=env.service.counter.calls,
            by_method=Counter(env.service.counter.by_method),
            received=env.tally.requests,
            by_route=Counter(env.tally.by_route),
            refused_429=env.tally.refused(),
            accepted_by_sandbox=env.tally.accepted_by_sandbox(PER_DAY),
        )


def open_jobs(env: PortalOnSandbox, kinds: tuple[str, ...] | None = None) -> int:
    """Jobs still to be carried out (pending, or claimed and running)."""
    query = select(func.count()).where(SyncJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
    if kinds is not None:
        query = query.where(SyncJob.kind.in_(list(kinds)))
    with env.Session() as db:
        return db.scalar(query) or 0


def job_summary(env: PortalOnSandbox) -> str:
    with env.Session() as db:
        rows = db.execute(
            select(SyncJob.kind, SyncJob.status, func.count()).group_by(
                SyncJob.kind, SyncJob.status
            )
        ).all()
        errors = db.scalars(
            select(SyncJob.last_error).where(SyncJob.status == JobStatus.NEEDS_ATTENTION).limit(3)
        ).all()
    summary = ", ".join(f"{kind}/{status}: {n}" for kind, status, n in rows)
    return summary + ("; first errors: " + " | ".join(errors) if errors else "")


def count_jobs(env: PortalOnSandbox) -> Counter[str]:
    with env.Session() as db:
        rows = db.execute(select(SyncJob.kind, func.count()).group_by(SyncJob.kind)).all()
    return Counter({str(kind): n for kind, n in rows})


def run(workdir: Path, *, rate_limited: bool) -> RunResult:
    label = "60 calls/min, simulated clock" if rate_limited else "limits off"
    env = PortalOnSandbox(workdir, rate_limited=rate_limited)
    try:
        rng = random.Random(SEED)
        customer_ids = add_customers(env)
        started = time.perf_counter()
        issued = issue_invoices(env, invoice_plan(customer_ids, rng), rng)
        issue_s = time.perf_counter() - started
        if env.service.counter.calls or env.tally.requests:
            raise WrongResult("Xero was called before the worker ran")

        runner = Runner(env)
        invoices_done = runner.until(
            lambda: open_jobs(env, (JobKind.INVOICE,)) == 0, INVOICES_GIVE_UP_S
        )
        backlog = open_jobs(env, DEFERRED_KINDS)
        result = RunResult(label, rate_limited, issue_s, invoices_done, invoices_done, backlog)
        if rate_limited:
            result.member_link_on_demand = member_asks(env, issued[-1].invoice_id)
            result.probe = watch_deferred(env, runner, result)
        result.jobs_by_kind = count_jobs(env)
        verify(env, issued, result)
        return result
    finally:
        env.close()


def member_asks(env: PortalOnSandbox, invoice_id: int) -> bool:
    """A member asks to pay ``invoice_id`` via Xero now: what the portal's pay-via-Xero
    request does (``online_links.fetch_for_member``), committed as the request would be.
    Whether the link came at once (stored already, or fetched from the members' reserve)."""
    with env.Session() as db:
        url = online_links.fetch_for_member(env.service, db, invoice_id)
        db.commit()
    return bool(url)


# -- checking the result ---------------------------------------------------------------------


def verify(env: PortalOnSandbox, issued: list[IssuedInvoice], result: RunResult) -> None:
    problems = check_books(env, issued) + check_counts(result)
    if problems:
        shown = problems[:20]
        if len(problems) > 20:
            shown.append(f"... and {len(problems) - 20} more")
        raise WrongResult(f"{result.label}: " + "; ".join(shown))


def check_books(env: PortalOnSandbox, issued: list[IssuedInvoice]) -> list[str]:
    """1,000 AUTHORISED invoices equal to the portal's, on 300 contacts without duplicates."""
    problems: list[str] = []
    with env.sandbox.lock:
        invoices = list(env.org.invoices.values())
        contacts = list(env.org.contacts.values())
    with env.Session() as db:
        customers = {c.id: c for c in db.scalars(select(Customer))}
        links = {link.invoice_id: link for link in db.scalars(select(XeroInvoiceLink))}
        numbers = set(db.scalars(select(Invoice.number).where(Invoice.number.is_not(None))))
        invoice_jobs = Counter(
            db.scalars(select(SyncJob.status).where(SyncJob.kind == JobKind.INVOICE))
        )
    if set(invoice_jobs) != {JobStatus.DONE}:
        problems.append(f"invoice jobs not all done: {dict(invoice_jobs)}")

    statuses = Counter(x.status for x in invoices)
    if len(invoices) != INVOICES or statuses["AUTHORISED"] != INVOICES:
        problems.append(
            f"the sandbox has {len(invoices)} invoices ({dict(statuses)}), "
            f"not {INVOICES} AUTHORISED"
        )
    by_number: dict[str, list] = {}
    for x in invoices:
        by_number.setdefault(x.invoice_number, []).append(x)
    twice = sorted(n for n, xs in by_number.items() if len(xs) > 1)
    if twice:
        problems.append(f"{len(twice)} invoice numbers are in Xero twice, e.g. {twice[:3]}")
    strangers = sorted(set(by_number) - numbers)
    if strangers:
        problems.append(f"Xero has invoices the portal never issued: {strangers[:3]}")

    for mine in issued:
        found = by_number.get(mine.number) or []
        if not found:
            problems.append(f"{mine.number} is not in Xero")
            continue
        x = found[0]
        if x.status != "AUTHORISED":
            problems.append(f"{mine.number} is {x.status} in Xero")
        if (x.sub_total, x.total_tax, x.total) != (mine.subtotal, mine.total_tax, mine.total):
            problems.append(
                f"{mine.number}: Xero {x.sub_total} + {x.total_tax} = {x.total}, "
                f"portal {mine.subtotal} + {mine.total_tax} = {mine.total}"
            )
        contact_id = customers[mine.customer_id].xero_contact_id or ""
        if contact_id.lower() != x.contact_id.lower():
            problems.append(f"{mine.number} is on another contact than its customer's")
        link = links.get(mine.invoice_id)
        if link is None or (link.xero_invoice_id or "").lower() != x.invoice_id.lower():
            problems.append(f"{mine.number}: the portal's link does not point at Xero's invoice")

    if len(contacts) != CUSTOMERS:
        problems.append(f"the sandbox has {len(contacts)} contacts, not {CUSTOMERS}")
    for what, values in (
        ("name", [c.name.casefold() for c in contacts]),
        ("contact number", [(c.contact_number or "").casefold() for c in contacts]),
    ):
        repeated = [v for v, n in Counter(values).items() if n > 1]
        if repeated:
            problems.append(f"{len(repeated)} contacts share a {what}, e.g. {repeated[:3]}")
    by_id = {c.contact_id.lower(): c for c in contacts}
    linked_to = Counter((c.xero_contact_id or "").lower() for c in customers.values())
    for customer in customers.values():
        contact = by_id.get((customer.xero_contact_id or "").lower())
        if contact is None:
            problems.append(f"customer {customer.name} is not linked to a contact in Xero")
        elif linked_to[contact.contact_id.lower()] > 1:
            problems.append(f"contact {contact.name} is linked to more than one customer")
        elif not customer.ledger_code or contact.contact_number != customer.ledger_code:
            problems.append(
                f"customer {customer.name}: code {customer.ledger_code}, "
                f"its contact's {contact.contact_number}"
            )
    return problems


def check_counts(result: RunResult) -> list[str]:
    """The portal's count of its calls, the requests the sandbox received and the sandbox's
    own rate-limit accounting must tell the same story."""
    problems = []
    for moment, snap in (("invoices done", result.invoices_done), ("the end", result.all_done)):
        if snap.calls != snap.received:
            problems.append(
                f"at {moment} the portal counted {snap.calls} calls, the sandbox received "
                f"{snap.received}"
            )
        if snap.received - snap.refused_429 != snap.accepted_by_sandbox:
            problems.append(
                f"at {moment} the sandbox's own count says it accepted "
                f"{snap.accepted_by_sandbox} calls, but it answered "
                f"{snap.received - snap.refused_429} without a 429"
            )
        routed = sum(n for route, n in snap.by_route.items() if _deferred_route(route))
        if routed != snap.deferred_calls:
            problems.append(
                f"at {moment} the sandbox received {routed} deferred calls, the portal "
                f"counted {snap.deferred_calls}"
            )
    return problems


def _deferred_route(route: str) -> bool:
    return route.endswith(DEFERRED_ROUTE_ENDINGS)


def done_deferred(env: PortalOnSandbox) -> int:
    with env.Session() as db:
        return (
            db.scalar(
                select(func.count()).where(
                    SyncJob.kind.in_(list(DEFERRED_KINDS)), SyncJob.status == JobStatus.DONE
                )
            )
            or 0
        )


def watch_deferred(env: PortalOnSandbox, runner: Runner, result: RunResult) -> DeferredProbe:
    """Run on after the invoices for a while; the deferred jobs must each be done once, use
    the rate budget the invoices leave, and write no history note twice."""
    before = runner.snapshot()
    done_before = done_deferred(env)
    window_ends = env.clock.now() + DEFERRED_PROBE_S
    ended = "backlog empty"
    try:
        after = runner.until(
            lambda: open_jobs(env) == 0 or env.clock.now() >= window_ends,
            DEFERRED_PROBE_S + 600,
            DEFERRED_PROBE_REAL_S,
        )
        if open_jobs(env):
            ended = f"{DEFERRED_PROBE_S:.0f} simulated s watched"
    except Unfinished as error:
        after = runner.snapshot()
        ended = str(error)
    result.all_done = after
    probe = DeferredProbe(
        simulated_s=after.simulated_s - before.simulated_s,
        real_s=after.real_s - before.real_s,
        jobs_done=done_deferred(env) - done_before,
        calls=after.deferred_calls - before.deferred_calls,
        refused_429=after.refused_429 - before.refused_429,
        ended=ended,
    )
    with env.Session() as db:
        stuck = db.scalar(
            select(func.count()).where(
                SyncJob.kind.in_(list(DEFERRED_KINDS)),
                SyncJob.status == JobStatus.NEEDS_ATTENTION,
            )
        )
    if stuck:
        probe.problems.append(f"{stuck} deferred jobs need attention: {job_summary(env)}")
    if probe.calls - probe.refused_429 > probe.jobs_done:
        probe.problems.append(
            f"{probe.calls - probe.refused_429} deferred calls went through for "
            f"{probe.jobs_done} jobs done: some were made again"
        )
    with env.sandbox.lock:
        notes = [
            (c.contact_id, record.details)
            for c in env.org.contacts.values()
            for record in c.history
            if record.changes == "Note"
        ]
    repeated = sum(n - 1 for n in Counter(notes).values() if n > 1)
    if repeated:
        probe.problems.append(f"{repeated} history notes were written twice or more")
    if not probe.jobs_done:
        probe.problems.append(f"no deferred job was done: {ended}")
    return probe


# -- reporting -------------------------------------------------------------------------------


def _methods(by_method: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{m} {n}" for m, n in Counter(by_method).most_common()) or "none"


def batched_by_method(snap: Snapshot) -> dict[str, int]:
    return {m: n for m, n in snap.by_method.most_common() if m not in DEFERRED_METHODS}


def describe(result: RunResult) -> str:
    done, end = result.invoices_done, result.all_done
    lines = [
        f"[{result.label}] issued {INVOICES} invoices in {result.issue_s:.1f} s "
        f"(sync jobs written in all: {dict(result.jobs_by_kind)})",
        f"  all {INVOICES} invoices AUTHORISED after {done.rounds} worker rounds: "
        f"{done.batched_calls} batched calls ({_methods(batched_by_method(done))}) and "
        f"{done.deferred_calls} deferred ones; {done.real_s:.2f} s real + "
        f"{done.waited_s:.1f} s of waits skipped = {done.simulated_s:.2f} s on the clock; "
        f"{done.refused_429} answered 429",
        f"  deferred backlog then: {result.deferred_backlog} one-call jobs "
        f"({_methods({k: n for k, n in result.jobs_by_kind.items() if k in DEFERRED_KINDS})})",
        f"  the sandbox received {end.received} requests: {_methods(end.by_route)}",
    ]
    probe = result.probe
    if probe is not None:
        projected = probe.projected_drain_s(result.deferred_backlog)
        lines.append(
            f"  watched them for {probe.simulated_s:.0f} simulated s ({probe.real_s:.1f} s real;"
            f" {probe.ended}): {probe.jobs_done} jobs done with {probe.calls} calls "
            f"({probe.refused_429} answered 429): "
            + (
                f"the whole backlog would take ~{projected / 60:.0f} min at this pace"
                if projected is not None
                else "no pace to project"
            )
        )
        lines += [f"  PROBLEM with the deferred jobs: {p}" for p in probe.problems]
    return "\n".join(lines)


def main() -> int:
    print(
        f"{SCENARIO}: {INVOICES} invoices for {CUSTOMERS} customers ({NEW_BLANK} new to Xero "
        f"with a blank ledger code, {NEW_CODED} new with a code Xero lacks, {LINKED} linked), "
        "issued in a seeded random order",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-month-end-") as tmp:
            free = run(Path(tmp) / "limits-off", rate_limited=False)
            print(describe(free), flush=True)
            limited = run(Path(tmp) / "rate-limited", rate_limited=True)
            print(describe(limited), flush=True)
    except WrongResult as error:
        print(f"WRONG RESULT, so no figures: {error}", file=sys.stderr, flush=True)
        return 1

    xero_calls = free.invoices_done.batched_calls
    probe = limited.probe
    assert probe is not None
    projected = probe.projected_drain_s(limited.deferred_backlog)
    wall_s = free.invoices_done.real_s
    rate_limited_wall_s = limited.invoices_done.simulated_s
    payable_s = rate_limited_wall_s if limited.member_link_on_demand else None
    met_calls = xero_calls <= TARGET_CALLS
    met_wall = rate_limited_wall_s <= TARGET_RATE_LIMITED_S
    met_payable = payable_s is not None and payable_s <= TARGET_PAYABLE_S
    print(
        f"targets: xero_calls {xero_calls} <= {TARGET_CALLS}: "
        f"{'met' if met_calls else 'NOT MET'}; rate_limited_wall_s {rate_limited_wall_s:.1f}"
        f" <= {TARGET_RATE_LIMITED_S:.0f}: {'met' if met_wall else 'NOT MET'}; payable_s "
        f"{'none' if payable_s is None else f'{payable_s:.1f}'} <= {TARGET_PAYABLE_S:.0f}: "
        f"{'met' if met_payable else 'NOT MET'}"
    )
    print(
        "payable_s: simulated seconds from the worker's start until every invoice could be "
        "paid by card (from its issue) and via Xero (link stored, or the invoice in Xero and "
        "its link fetched when a member asks, from the members' reserve of "
        f"{ratelimit.member_reserve(PER_MINUTE)} calls a minute: "
        + (
            "a member asking then got it at once)"
            if limited.member_link_on_demand
            else "a member asking then did NOT get it)"
        ),
        flush=True,
    )
    print(
        f"xero_calls: batched calls until all {INVOICES} invoices were AUTHORISED "
        f"(deferred one-call jobs apart, {free.deferred_calls}); wall_s: real time, limits "
        "off; rate_limited_wall_s: simulated clock under 60 calls/min in the sandbox and in "
        f"the portal's budget = real processing {limited.invoices_done.real_s:.2f} s + "
        f"skipped waits {limited.invoices_done.waited_s:.1f} s",
        flush=True,
    )
    print(
        json.dumps(
            {
                "scenario": SCENARIO,
                "invoices": INVOICES,
                "xero_calls": xero_calls,
                "calls_per_invoice": xero_calls / INVOICES,
                "wall_s": round(wall_s, 3),
                "rate_limited_wall_s": round(rate_limited_wall_s, 3),
                "payable_s": round(payable_s, 3) if payable_s is not None else None,
                "member_link_on_demand": limited.member_link_on_demand,
                "deferred_calls": free.deferred_calls,
                "calls_by_method": batched_by_method(free.invoices_done),
                "deferred_jobs_by_kind": {
                    k: n for k, n in free.jobs_by_kind.items() if k in DEFERRED_KINDS
                },
                "rate_limited_xero_calls": limited.invoices_done.batched_calls,
                "rate_limited_429s": limited.invoices_done.refused_429,
                "rate_limited_real_s": round(limited.invoices_done.real_s, 3),
                "rate_limited_waited_s": round(limited.invoices_done.waited_s, 3),
                "deferred_drain_projected_rate_limited_s": (
                    round(projected, 1) if projected is not None else None
                ),
                "deferred_problems_rate_limited": probe.problems,
                "targets_met": met_calls and met_wall and met_payable,
            }
        ),
        flush=True,
    )
    return 0
