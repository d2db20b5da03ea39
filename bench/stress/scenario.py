"""The stress scenario: seed, race, drain, count. ``run()`` is what ``make stress`` and the
smoke test call, at 300 invoices and at a handful.

Each invoice gets one kind of trouble, cycling through ``PATTERN`` (so even six invoices
meet most kinds), in a seeded random order:

- card: the member pays everything due by card;
- two_tabs: the member pays from two tabs at once, the second a few pence less;
- both_sides: the member pays by card while someone presses Xero's "Pay now" on it;
- paynow: Xero's "Pay now" only;
- void_race: an admin voids it while the member pays by card;
- refund: paid by card, then part refunded in Stripe (charge.refunded, posted twice);
- unpaid: issued and left.

Phases, each with a pool of ``clients`` HTTP clients and a deadline: every invoice's Issue is
double-clicked (two concurrent POSTs); the money actions; Stripe's events for every succeeded
PaymentIntent posted again, twice each and shuffled (localstripe has already sent its own);
a drain; an admin refunding every paid-twice invoice from Needs attention (Refund
double-clicked); the refunds and their events; a final drain; the admin again, until nothing
is left to refund or do. Then the counts.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from bench.stress import clients, counts, stack
from billing.customers import CustomerDetails, create_customer
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice
from billing.invoices.operations import DraftDetails, DraftLine, create_draft
from billing.services import ServiceDetails, create_service
from billing.tax import LineAmountType
from billing.users import Role, create_user
from portal.demo import ensure_tax_rates
from xero.api.errors import RateLimited
from xero.models import JobKind, JobStatus, SyncJob, XeroInvoiceLink

PATTERN = (
    "card",
    "two_tabs",
    "both_sides",
    "void_race",
    "paynow",
    "refund",
    "card",
    "both_sides",
    "unpaid",
    "two_tabs",
    "card",
    "void_race",
    "both_sides",
    "card",
    "paynow",
    "two_tabs",
    "card",
    "both_sides",
    "refund",
    "card",
)
PASSWORD = "stress-password-0123456789"  # noqa: S105 - scratch logins on loopback only
ADMINS = 2
#: Companies, one member login each: enough that no member meets the portal's limit on card
#: setups an hour (billing.cards.checkout) at 300 invoices, which would refuse them (429).
MAX_CUSTOMERS = 30
#: Seconds a money action waits for its invoice to reach Xero before "Pay now".
LINK_WAIT_S = 90.0
SEED = 20260701


@dataclass
class Plan:
    #: invoice id -> kind, in the order the clients take them.
    kinds: dict[int, str]
    #: invoice id -> customer id (whose member pays it).
    customer_of: dict[int, int]
    admin_emails: list[str]
    #: customer id -> its member's email.
    member_emails: dict[int, str]
    admin_id: int


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    not_run: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def error(self, what: str) -> None:
        with self._lock:
            self.errors[what] += 1


def seed(db, invoices: int, rng: random.Random) -> Plan:
    rates = ensure_tax_rates(db)
    admins = [
        create_user(
            db,
            email=f"admin{n}@stress.example",
            name=f"Admin {n}",
            password=PASSWORD,
            role=Role.ADMIN,
        )
        for n in range(1, ADMINS + 1)
    ]
    services = [
        create_service(
            db,
            ServiceDetails(
                code=code,
                name=name,
                unit_price=Decimal(price),
                currency="GBP",
                sales_account_code="200",
                tax_rate_id=rates[rate].id,
            ),
        )
        for code, name, price, rate in (
            ("DESK", "Hot desk (day)", "18.50", "Standard rate"),
            ("ROOM", "Meeting room (hour)", "24.9500", "Standard rate"),
            ("MAIL", "Mail handling (month)", "15.00", "Reduced rate"),
        )
    ]
    members: dict[int, str] = {}
    for n in range(min(MAX_CUSTOMERS, invoices)):
        customer = create_customer(
            db,
            CustomerDetails(
                name=f"Stress Member {n:02d} Ltd",
                email=f"accounts@member{n:02d}.example",
                payment_terms_days=14,
            ),
        )
        email = f"member{n:02d}@stress.example"
        create_user(
            db,
            email=email,
            name=f"Member {n:02d}",
            password=PASSWORD,
            role=Role.MEMBER,
            customer_id=customer.id,
        )
        members[customer.id] = email
    customer_ids = list(members)
    kinds: dict[int, str] = {}
    customer_of: dict[int, int] = {}
    for n in range(invoices):
        lines = [
            DraftLine(s.id, s.name, Decimal(rng.randint(1, 9)), s.unit_price)
            for s in rng.sample(services, rng.randint(1, len(services)))
        ]
        draft = create_draft(
            db,
            DraftDetails(
                customer_id=customer_ids[n % len(customer_ids)],
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=date.today(),
                reference=f"stress {n}",
                lines=lines,
            ),
        )
        kinds[draft.id] = PATTERN[n % len(PATTERN)]
        customer_of[draft.id] = draft.customer_id
    order = list(kinds)
    rng.shuffle(order)
    return Plan(
        {i: kinds[i] for i in order},
        customer_of,
        [a.email for a in admins],
        members,
        admins[0].id,
    )


def together(*actions: Callable[[], str]) -> list[str]:
    """Run the actions at the same moment, each on its own thread (two tabs, two clicks)."""
    results: list[str] = [""] * len(actions)
    start = threading.Barrier(len(actions))

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = actions[n]()
        except Exception as error:  # noqa: BLE001 - tallied, the run goes on
            results[n] = f"error {type(error).__name__}"

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class Run:
    def __init__(self, st: stack.Stack, plan: Plan, clients_n: int, rng: random.Random):
        self.stack = st
        self.plan = plan
        self.clients_n = clients_n
        self.rng = rng
        self.tally = Tally()
        url = st.portal_url
        emails = plan.admin_emails + list(plan.member_emails.values())
        with ThreadPoolExecutor(clients_n) as pool:
            signed_in = dict(
                zip(
                    emails, pool.map(lambda e: clients.Login(url, e, PASSWORD), emails), strict=True
                )
            )
        self.admins = [signed_in[e] for e in plan.admin_emails]
        self.members = {c: signed_in[e] for c, e in plan.member_emails.items()}

    # -- phases ---------------------------------------------------------------------------

    def in_pool(self, tasks: list[Callable[[], None]], deadline: float) -> None:
        """Run the tasks on the client pool until done or the deadline; what never started
        is counted as not run."""
        with ThreadPoolExecutor(self.clients_n, thread_name_prefix="stress-client") as pool:
            futures = [pool.submit(self._guarded, task) for task in tasks]
            done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            self.tally.not_run += sum(1 for f in pending if f.cancel())

    def _guarded(self, task: Callable[[], None]) -> None:
        try:
            task()
        except Exception as error:  # noqa: BLE001 - tallied, the run goes on
            self.tally.error(f"{type(error).__name__}: {str(error)[:80]}")

    def issue_all(self, deadline: float) -> None:
        def double_click(invoice_id: int, admin: clients.Login) -> None:
            for outcome in together(
                lambda: clients.issue(admin, invoice_id), lambda: clients.issue(admin, invoice_id)
            ):
                self.tally.add(outcome)

        self.in_pool(
            [
                partial(double_click, i, self.admins[n % len(self.admins)])
                for n, i in enumerate(self.plan.kinds)
            ],
            deadline,
        )

    def money(self, deadline: float) -> None:
        with self.stack.session() as db:
            totals = dict(
                db.execute(
                    select(Invoice.id, Invoice.total).where(Invoice.number.is_not(None))
                ).all()
            )
        tasks: list[Callable[[], None]] = []
        for n, (invoice_id, kind) in enumerate(self.plan.kinds.items()):
            if invoice_id not in totals:
                self.tally.not_run += 1  # never issued (the issue phase ran out of time)
                continue
            member = self.members[self.plan.customer_of[invoice_id]]
            admin = self.admins[n % len(self.admins)]
            total = totals[invoice_id]
            # The second tab's amount: a few pence less (decided here, not on the threads).
            less = total - Decimal(self.rng.randint(1, 5)) / 100
            tasks.append(
                partial(self._money_for, invoice_id, kind, member, admin, total, less, deadline)
            )
        self.in_pool(tasks, deadline)

    def _money_for(
        self,
        invoice_id: int,
        kind: str,
        member: clients.Login,
        admin: clients.Login,
        total: Decimal,
        less: Decimal,
        deadline: float,
    ) -> None:
        stripe = self.stack.stripe

        def card(amount: Decimal = total) -> str:
            return clients.pay_by_card(member, stripe, invoice_id, amount)

        if kind in ("card", "refund"):
            outcomes = [card()]
        elif kind == "two_tabs":
            outcomes = together(card, lambda: card(less if less > 0 else total))
        elif kind == "void_race":
            outcomes = together(card, lambda: clients.void(admin, invoice_id))
        elif kind in ("both_sides", "paynow"):
            xero_id = self._xero_id(invoice_id, min(deadline, time.monotonic() + LINK_WAIT_S))
            if xero_id is None:
                outcomes = ["paynow never in xero"]
            else:

                def pay_now() -> str:
                    return clients.pay_now(self.stack.sandbox_url, xero_id)

                outcomes = together(card, pay_now) if kind == "both_sides" else [pay_now()]
        else:
            outcomes = []
        for outcome in outcomes:
            self.tally.add(outcome)

    def _xero_id(self, invoice_id: int, until: float) -> str | None:
        while True:
            with self.stack.session() as db:
                found = db.scalar(
                    select(XeroInvoiceLink.xero_invoice_id).where(
                        XeroInvoiceLink.invoice_id == invoice_id
                    )
                )
            if found or time.monotonic() > until:
                return found
            time.sleep(0.25)

    def stripe_events_again(self, deadline: float) -> None:
        """Stripe's events for every succeeded card payment, each delivered twice, shuffled
        (charge before intent as often as not)."""
        deliveries: list[tuple[str, dict]] = []
        for intent in self.stack.stripe.payment_intents():
            if intent.get("status") != "succeeded":
                continue
            deliveries.append(
                ("payment_intent.succeeded", {"id": intent["id"], "object": "payment_intent"})
            )
            for charge in (intent.get("charges") or {}).get("data") or []:
                deliveries.append(("charge.succeeded", {"id": charge["id"], "object": "charge"}))
        self._post_twice_shuffled(deliveries, deadline)

    def _post_twice_shuffled(self, deliveries: list[tuple[str, dict]], deadline) -> None:
        posts = []
        for event_type, obj in deliveries:
            event_id = f"evt_stress_{uuid.uuid4().hex[:20]}"
            posts += [(event_type, obj, event_id)] * 2
        self.rng.shuffle(posts)
        url = self.stack.portal_url

        def post(event_type: str, obj: dict, event_id: str) -> None:
            self.tally.add(clients.post_stripe_event(url, event_type, obj, event_id))

        self.in_pool([partial(post, *p) for p in posts], deadline)

    def refunds(self, deadline: float) -> None:
        """Part of each refund-kind invoice's card payment given back in Stripe, then the
        refund's events (charge.refunded and refund.created), twice each, shuffled."""
        wanted = {i for i, k in self.plan.kinds.items() if k == "refund"}
        deliveries: list[tuple[str, dict]] = []
        for intent in self.stack.stripe.payment_intents():
            invoice_id = int((intent.get("metadata") or {}).get("portal_invoice_id") or 0)
            if invoice_id not in wanted or intent.get("status") != "succeeded":
                continue
            wanted.discard(invoice_id)  # one refund per invoice, even if it was paid twice
            refund = self.stack.stripe.refund(intent["id"], amount=intent["amount"] // 2)
            self.tally.add("refund made")
            charge = refund["charge"]
            deliveries.append(("charge.refunded", {"id": charge, "object": "charge"}))
            deliveries.append(
                ("refund.created", {"id": refund["id"], "object": "refund", "charge": charge})
            )
        self._post_twice_shuffled(deliveries, deadline)

    def settle_overpayments(self, deadline: float) -> None:
        """An admin works the Needs attention list: each invoice paid twice gets its card
        payment refunded, the Refund button clicked twice at once (it must refund once)."""
        admin = self.admins[0]

        def refund(overpayment_id: int) -> None:
            for outcome in together(
                lambda: clients.refund_overpayment(admin, overpayment_id),
                lambda: clients.refund_overpayment(admin, overpayment_id),
            ):
                self.tally.add(outcome)

        self.in_pool([partial(refund, o) for o in clients.overpayments_to_refund(admin)], deadline)

    def settle_until_quiet(self, deadline: float) -> int:
        """The admin keeps an eye on Needs attention while the workers finish: refunds what
        appears, until nothing is left to refund and no work is open, or the deadline.
        Returns the events and jobs still open."""
        while True:
            self.settle_overpayments(deadline)
            left = open_work(self.stack)
            nothing_to_refund = not clients.overpayments_to_refund(self.admins[0])
            if (left == 0 and nothing_to_refund) or time.monotonic() > deadline:
                return left
            time.sleep(stack.WORKER_INTERVAL + 0.2)

    def drain(self, timeout: float) -> int:
        """Until the workers have nothing left (twice in a row, a worker interval apart) or
        the time is up; returns the events and jobs still open."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            self.stack.sandbox.webhooks.wait(timeout=5)
            left = open_work(self.stack)
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= 2 or time.monotonic() > deadline:
                return left
            time.sleep(stack.WORKER_INTERVAL + 0.2)


#: An inbound event that failed this often is waiting on a retry that repeats its error
#: (say, a payment the portal refuses to record): the drain does not wait for it; it is
#: reported (``events_retrying``) and listed.
STUCK_AFTER_ATTEMPTS = 2


#: Jobs that carry no money: one Xero call per invoice each, run in the rate budget the
#: batched writes leave (README, Benchmarks), so minutes behind at 60 calls a minute. The
#: drain does not wait for them; they are reported (``follow_ups_open``).
FOLLOW_UPS = (JobKind.ONLINE_INVOICE, JobKind.CONTACT_NOTE, JobKind.EMAIL_INVOICE)


def open_work(st: stack.Stack) -> int:
    """Events and jobs the workers still have to do (events stuck on an error, and the
    follow-up jobs, aside)."""
    with st.session() as db:
        events = db.scalar(
            select(func.count()).where(
                InboundEvent.status.in_(["pending", "running"]),
                InboundEvent.attempts < STUCK_AFTER_ATTEMPTS,
            )
        )
        jobs = db.scalar(
            select(func.count()).where(
                SyncJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]),
                SyncJob.kind.not_in(FOLLOW_UPS),
            )
        )
    return (events or 0) + (jobs or 0)


_IDS = re.compile(r"[A-Z]+-\d+|(pi|ch|re|evt)_\w+|\d+(\.\d+)?")


def _error_kind(error: str | None) -> str:
    """An error message without its amounts, numbers and ids, to group alike ones."""
    return _IDS.sub("#", error or "")[:90]


def open_work_details(st: stack.Stack) -> dict[str, int]:
    """What the workers left open or gave up on, by kind, status and (masked) error."""
    found: Counter[str] = Counter()
    with st.session() as db:
        for kind, status, error in db.execute(
            select(SyncJob.kind, SyncJob.status, SyncJob.last_error).where(
                SyncJob.status.not_in([JobStatus.DONE, JobStatus.IGNORED]),
                ~(SyncJob.kind.in_(FOLLOW_UPS) & (SyncJob.status == JobStatus.PENDING)),
            )
        ):
            found[f"job {kind} {status}: {_error_kind(error)}"] += 1
        for kind, status, error in db.execute(
            select(InboundEvent.event_type, InboundEvent.status, InboundEvent.last_error).where(
                InboundEvent.status != "done"
            )
        ):
            found[f"event {kind} {status}: {_error_kind(error)}"] += 1
    return dict(found)


def needing_attention(st: stack.Stack) -> dict[str, int]:
    with st.session() as db:
        jobs = db.scalar(select(func.count()).where(SyncJob.status == JobStatus.NEEDS_ATTENTION))
        failed = db.scalar(select(func.count()).where(InboundEvent.status == "failed"))
        retrying = db.scalar(
            select(func.count()).where(
                InboundEvent.status.in_(["pending", "running"]),
                InboundEvent.attempts >= STUCK_AFTER_ATTEMPTS,
            )
        )
        follow_ups = db.scalar(
            select(func.count()).where(
                SyncJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]),
                SyncJob.kind.in_(FOLLOW_UPS),
            )
        )
    return {
        "follow_ups_open": follow_ups or 0,
        "jobs_needing_attention": jobs or 0,
        "events_failed": failed or 0,
        "events_retrying": retrying or 0,
    }


#: How long the ledger check may wait for the portal's Xero rate budget (60 calls a minute).
COUNT_WAIT_S = 90.0


def count_books(st: stack.Stack) -> tuple[counts.Findings, dict[int, str | None]]:
    """The counts (waiting out Xero's minute limit if the run used it up), and the
    invoices' numbers."""
    deadline = time.monotonic() + COUNT_WAIT_S
    while True:
        with st.session() as db:
            try:
                findings = counts.count(
                    db,
                    st.app.extensions["xero"].api(db),
                    st.stripe.payment_intents(),
                    st.sandbox,
                    st.app.config["INVOICE_PREFIX"],
                )
            except RateLimited as limited:
                db.rollback()
                if time.monotonic() + limited.retry_after > deadline:
                    raise
                time.sleep(limited.retry_after + 0.5)
                continue
            db.commit()  # the token refresh the check may have made
            numbers = dict(db.execute(select(Invoice.id, Invoice.number)).all())
            return findings, numbers


def by_kind(findings: counts.Findings, kind_of_number: dict[str, str]) -> dict:
    """Per count, how many findings came from invoices of each kind of trouble."""
    found: dict[str, dict[str, int]] = {}
    for name, items in findings.found.items():
        kinds = Counter(kind_of_number.get(item.split(" ")[0].rstrip(":"), "") for item in items)
        kinds.pop("", None)
        if kinds:
            found[name] = dict(kinds.most_common())
    return found


@dataclass
class Report:
    invoices: int
    findings: counts.Findings
    extra: dict
    #: invoice number -> kind, to say which kind of trouble each finding came from.
    kind_of_number: dict[str, str]
    #: Every process the run started (all stopped by the time the report exists).
    process_ids: list[int] = field(default_factory=list)

    def line(self) -> dict:
        head = {"scenario": "stress_pg", "invoices": self.invoices}
        return {**head, **self.findings.counts(), **self.extra}

    @property
    def ok(self) -> bool:
        return not any(self.findings.counts().values())


#: The longest each phase may take (the whole run also stops at its time budget).
#: Kept at the end of the budget for stopping the workers and reading the three books.
COUNT_RESERVE_S = 20.0
#: Kept back from the final drain for the admin's last rounds of Needs attention.
LATE_SETTLE_RESERVE_S = 60.0
PHASE_CAPS_S = {
    "issue": 90.0,
    "money": 150.0,
    "events": 60.0,
    "settle": 30.0,
    "refunds": 30.0,
}


def run(
    invoices: int,
    clients_n: int = 12,
    time_budget_s: float = 360.0,
    drain_s: float = 45.0,
    base_url: str | None = None,
    log: Callable[[str], None] = print,
) -> Report:
    """Everything, start to stop; every process started here is stopped before it returns
    (or raises)."""
    workdir = Path(tempfile.mkdtemp(prefix="stress-"))
    try:
        return _run(workdir, invoices, clients_n, time_budget_s, drain_s, base_url, log)
    except BaseException:
        log(f"stress: the run broke; process logs kept in {workdir}")
        raise


def _run(
    workdir: Path,
    invoices: int,
    clients_n: int,
    time_budget_s: float,
    drain_s: float,
    base_url: str | None,
    log: Callable[[str], None],
) -> Report:
    rng = random.Random(SEED)
    started = time.monotonic()
    with ExitStack() as exits:
        st = stack.start(exits, workdir, base_url)
        stack.start_portal(exits, st)
        with st.session() as db, db.begin():
            plan = seed(db, invoices, rng)
        st.connect_to_xero(plan.admin_id)
        stack.wait_for_portal(st)
        log(
            f"stress: portal up at {st.portal_url}, sandbox {st.sandbox_url}, "
            f"localstripe {st.stripe.url}; {invoices} invoices, {clients_n} clients"
        )
        run_ = Run(st, plan, clients_n, rng)
        # The drains' time is kept back: counting before the workers are done would
        # report work in flight as lost.
        end = started + time_budget_s - 2 * drain_s
        last_moment = started + time_budget_s - COUNT_RESERVE_S

        def until(cap: float) -> float:
            return min(end, time.monotonic() + cap)

        undrained = 0
        phases: list[tuple[str, Callable[[], int | None]]] = [
            ("issue", lambda: run_.issue_all(until(PHASE_CAPS_S["issue"]))),
            ("money", lambda: run_.money(until(PHASE_CAPS_S["money"]))),
            ("stripe events", lambda: run_.stripe_events_again(until(PHASE_CAPS_S["events"]))),
            ("drain", lambda: run_.drain(drain_s)),
            ("settle", lambda: run_.settle_overpayments(until(PHASE_CAPS_S["settle"]))),
            ("refunds", lambda: run_.refunds(until(PHASE_CAPS_S["refunds"]))),
            # The last drain may use whatever the budget has left: money writes to Xero
            # queue behind the minute limit.
            (
                "final drain",
                lambda: run_.drain(
                    max(drain_s, last_moment - LATE_SETTLE_RESERVE_S - time.monotonic())
                ),
            ),
            # Paid-twice invoices the workers find after the first look at the list: Pay now
            # webhooks are read back within Xero's minute limit, some late in the run.
            (
                "settle late",
                lambda: run_.settle_until_quiet(time.monotonic() + LATE_SETTLE_RESERVE_S),
            ),
        ]
        timings = {}
        for name, phase in phases:
            t0 = time.monotonic()
            before = Counter(run_.tally.outcomes)
            result = phase()
            if name in ("final drain", "settle late"):
                undrained = result or 0
            timings[name] = round(time.monotonic() - t0, 1)
            new = dict(run_.tally.outcomes - before)
            log(f"stress: {name} done in {timings[name]} s" + (f": {new}" if new else ""))
        cpu = st.cpu_seconds()
        dead = st.dead_processes()
        left_open = open_work_details(st)
        if left_open:
            log(f"stress: left open or given up: {left_open}")
        st.stop_xero_workers()
        findings, numbers = count_books(st)
        extra = {
            "wall_s": round(time.monotonic() - started, 1),
            "undrained": undrained,
            **needing_attention(st),
            "not_run": run_.tally.not_run,
            "client_errors": sum(run_.tally.errors.values()),
            "processes_died": len(dead),
            "phases_s": timings,
            "cpu_s": cpu,
            "outcomes": dict(sorted(run_.tally.outcomes.items())),
        }
        if run_.tally.errors:
            log(f"stress: client errors {dict(run_.tally.errors)}")
        if dead:
            log(f"stress: processes that died: {dead}; logs in {workdir}")
        kind_of_number = {n: k for i, k in plan.kinds.items() if (n := numbers.get(i))}
        extra["found_by_kind"] = by_kind(findings, kind_of_number)
    if dead or run_.tally.errors or undrained:
        log(f"stress: process logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    pids = [p.pid for p in st.processes]
    return Report(invoices, findings, extra, kind_of_number, pids)
