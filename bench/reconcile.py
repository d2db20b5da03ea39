"""Reconcile 500: 500 invoices paid, half by card in the portal and half on Xero's online
invoice, while the job runner works in the background; how fast both books show each invoice
paid, and how many calls that costs the portal.

The scenario (from the issue): 500 AUTHORISED invoices for 100 customers, already in Xero
(synced before the clock starts). The job runner (``JobRunner``: inbox, sync worker, poller)
runs in a thread of its own exactly as ``flask xero worker`` runs it (``run_forever``, with
an interval of 50 ms): a round begins once the oldest waiting event has waited the runner's
linger (1 s) and takes everything waiting, so a burst is one batch and a slow round makes
the next one larger, not more numerous. Payments come in
BURSTS of 50 (25 card payments, 25 "Pay now"), one burst every 2 s, ten in all, as they do
when a reminder run makes members pay at once:

- a card payment is a PaymentIntent that succeeded in Stripe (an in-process stand-in that
  the event handler re-reads, as it would Stripe), announced by Stripe's two signed events
  (``payment_intent.succeeded``, ``charge.succeeded``) posted to the portal's real
  ``POST /webhooks/stripe``, several at once;
- a Xero payment is the sandbox's "Pay now" on the invoice's online page, which records the
  payment in Xero and posts Xero's signed INVOICE webhook to the portal's real
  ``POST /webhooks/xero`` in the background.

The portal's webhook endpoints are served by gunicorn (2 workers, processes of their own, as
in production); they, the sandbox and the runner share one SQLite file.
With ``BENCH_NEIGHBOUR=1`` a CPU-bound process (a busy loop in another interpreter) shares
the machine from the runner's start until the books are settled; the JSON line says so
(``"neighbour"``), with the load average when the run began.

What is measured:

- latency, per payment: from the payment event (the card payment's first webhook reaching
  the portal; "Pay now" being pressed) to the end of the runner round after which the
  invoice is paid in BOTH books: for a card payment, recorded in the portal and written to
  Xero; for "Pay now", recorded in the portal. p50 and p95 over the 500.
- ``xero_calls``: the calls the portal made to Xero's accounting API from the first payment
  until everything was settled (the portal's ``CallCounter``, cross-checked against the
  requests the sandbox received), by method. Limits are off in the sandbox and the portal
  budget (the calls are few; month end measures the limits).

Afterwards the books are checked (``check_ledgers`` finds no mismatch, 500 invoices PAID in
both, one payment each on both sides, each Xero payment once in the portal); a wrong result
is printed and exits non-zero, without figures. Targets (printed, not asserted):
p95 <= 2 s, xero_calls <= 40.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import requests
from sqlalchemy import func, select, update

from bench import pages_http
from bench.wiring import PortalOnSandbox
from billing.cards import stripe_events
from billing.cards.gateways import Charge, GatewayNotFound, PaymentIntent, to_minor_units
from billing.customers import CustomerDetails, create_customer
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice, InvoiceStatus, Payment
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.services import Service
from billing.tax import LineAmountType
from portal.worker import DEFAULT_LINGER, JobRunner
from xero.admin.ledger_check import check_ledgers
from xero.models import JobStatus, SyncJob, XeroInvoiceLink, XeroSettings
from xero.sync.inbound import events as xero_events
from xero.sync.inbound import poller
from xero_sandbox import paynow

SCENARIO = "reconcile_500"
PAYMENTS = 500
CUSTOMERS = 100
BURSTS = 10
BURST_EVERY_S = 2.0
#: The runner's longest sleep between two looks at what waits (``XERO_WORKER_INTERVAL``).
IDLE_S = 0.05
#: Stripe delivers a burst's events over a few connections at once.
STRIPE_CONNECTIONS = 8
SEED = 20261201
TARGET_P95_S = 2.0
TARGET_CALLS = 40
WEBHOOK_KEY = "bench-xero-webhook-key"
STRIPE_WEBHOOK_SECRET = "whsec_bench_reconcile"  # noqa: S105 - a made-up local secret
#: Stripe gives up on a webhook after this long (and retries it later); here it is a wrong
#: result. The slowest answer is reported (``webhook_post_s_max``).
WEBHOOK_TIMEOUT_S = 30
#: Real seconds to wait for the books to catch up after the last burst.
SETTLE_S = 60.0


class WrongResult(Exception):
    """The books disagree, or the run did not finish: there are no figures to give."""


# -- Stripe ------------------------------------------------------------------------------------


class StandInStripe:
    """Succeeded PaymentIntents and their charges, read back by the event handler."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.intents: dict[str, PaymentIntent] = {}
        self.charges: dict[str, Charge] = {}

    def pay(self, invoice_id: int, number: str, amount: Decimal, currency: str) -> PaymentIntent:
        token = f"{len(self.intents):05d}{self.rng.getrandbits(48):012x}"
        minor = to_minor_units(amount, currency)
        charge = Charge(
            f"ch_{token}", f"pi_{token}", minor, 0, currency, "succeeded", int(time.time())
        )
        intent = PaymentIntent(
            id=f"pi_{token}",
            status="succeeded",
            amount=minor,
            amount_received=minor,
            currency=currency,
            client_secret=f"pi_{token}_secret",
            metadata={"portal_invoice_id": str(invoice_id), "portal_invoice_number": number},
            latest_charge=charge,
        )
        self.intents[intent.id] = intent
        self.charges[charge.id] = charge
        return intent

    def payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        if payment_intent_id not in self.intents:
            raise GatewayNotFound(payment_intent_id)
        return self.intents[payment_intent_id]

    def charge(self, charge_id: str) -> Charge:
        if charge_id not in self.charges:
            raise GatewayNotFound(charge_id)
        return self.charges[charge_id]


def stripe_event(event_type: str, obj: dict, serial: int) -> str:
    return json.dumps(
        {
            "id": f"evt_bench_{serial:06d}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    )


def stripe_signature(body: str) -> str:
    """Stripe's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    now = int(time.time())
    digest = hmac.new(
        STRIPE_WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={now},v1={digest}"


# -- the portal, its runner and the books ------------------------------------------------------


class RunnerThread(threading.Thread):
    """The job runner in the background, as ``flask xero worker`` runs it
    (``JobRunner.run_forever``): a round whenever one is due, sleeping in between."""

    def __init__(self, runner: JobRunner):
        super().__init__(name="bench-job-runner", daemon=True)
        self.runner = runner
        self.stopping = threading.Event()
        #: Wall-clock end of each pass of the loop, and how much it handled (0: no round
        #: was due, or an idle one).
        self.rounds: list[tuple[float, int]] = []
        #: Real seconds each round that handled something took.
        self.busy_s: list[float] = []
        self.errors: list[str] = []
        self._began = 0.0

    def run(self) -> None:
        real_round = self.runner.run_once

        def timed_round() -> int:
            self._began = time.perf_counter()
            try:
                return real_round()
            except Exception as error:  # noqa: BLE001 - reported as a wrong result
                self.errors.append(f"{type(error).__name__}: {error}")
                raise

        def after_pass(handled: int) -> None:
            if handled:
                self.busy_s.append(time.perf_counter() - self._began)
            self.rounds.append((time.time(), handled))

        self.runner.run_once = timed_round  # type: ignore[method-assign]
        self.runner.run_forever(
            IDLE_S, self.stopping.wait, stop=self.stopping.is_set, after_pass=after_pass
        )

    def idle_since(self, moment: float) -> bool:
        """Whether a pass that found nothing to do ended after ``moment``."""
        return any(end > moment and not handled for end, handled in self.rounds[-5:])

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


class Neighbour:
    """A CPU-bound process sharing the machine during the run (``BENCH_NEIGHBOUR=1``)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Neighbour:
        if self.enabled:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed code
                [sys.executable, "-c", "while True:\n    pass"]
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass
class Bench:
    env: PortalOnSandbox
    portal_url: str
    stop_portal: object
    stripe: StandInStripe
    invoices: list[int] = field(default_factory=list)
    #: Real seconds each Stripe webhook POST took to be answered.
    post_s: list[float] = field(default_factory=list)


def set_up(workdir: Path) -> Bench:
    env = PortalOnSandbox(workdir, rate_limited=False)
    with env.Session() as db, db.begin():
        db.execute(update(XeroSettings).values(payments_account="090"))
    # The webhook endpoints in processes of their own, as production serves them: in this
    # process they would take the runner's interpreter lock for every request.
    server = pages_http.start_gunicorn(
        {
            **pages_http.settings(env.database_url, "bench-reconcile-secret-key-0123456789"),
            "XERO_WEBHOOK_KEY": WEBHOOK_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        },
        workdir / "gunicorn.log",
    )
    stripe = StandInStripe(random.Random(SEED))
    # The bench's runner has handlers of its own: Stripe's events are read from the stand-in
    # (the app's handlers, wired to the real Stripe adapter, are not run here).
    stripe_events.register(env.handlers, lambda db: stripe)
    xero_events.register(env.handlers, env.service)
    env.sandbox.webhook_url = f"{server.url}/webhooks/xero"
    env.sandbox.webhook_key = WEBHOOK_KEY
    return Bench(env, server.url, server.stop, stripe)


def issue_and_sync(bench: Bench, rng: random.Random) -> None:
    env = bench.env
    with env.Session() as db, db.begin():
        customers = [
            create_customer(
                db,
                CustomerDetails(
                    name=f"Paying Member {n:03d}",
                    email=f"accounts@member{n:03d}.example",
                    ledger_code=f"PAY-{n:04d}",
                ),
            ).id
            for n in range(CUSTOMERS)
        ]
    for n in range(PAYMENTS):
        with env.Session() as db, db.begin():
            desk = db.get(Service, env.tax.desk_id)
            draft = create_draft(
                db,
                DraftDetails(
                    customer_id=customers[n % CUSTOMERS],
                    currency="GBP",
                    line_amount_type=LineAmountType.EXCLUSIVE,
                    issue_date=date(2026, 12, 1),
                    lines=[
                        DraftLine(desk.id, desk.name, Decimal(rng.randint(1, 22)), desk.unit_price)
                    ],
                ),
            )
            issue_invoice(db, draft, prefix="INV-", today=date(2026, 12, 1))
            bench.invoices.append(draft.id)
    runner = JobRunner(env.service, env.handlers, pull=poller.puller(env.service))
    deadline = time.monotonic() + 120
    while True:
        runner.drain()
        env.sandbox.webhooks.wait()
        if runner.run_once() == 0 and open_work(env) == 0:
            break
        if time.monotonic() > deadline:
            raise WrongResult(f"the invoices did not reach Xero: {open_work(env)} jobs waiting")
    with env.Session() as db:
        linked = db.scalar(select(func.count()).where(XeroInvoiceLink.xero_invoice_id.is_not(None)))
    if linked != PAYMENTS:
        raise WrongResult(f"{linked} of {PAYMENTS} invoices reached Xero before the payments")


def open_work(env: PortalOnSandbox) -> int:
    with env.Session() as db:
        events = db.scalar(
            select(func.count()).where(InboundEvent.status.in_(["pending", "running"]))
        )
        jobs = db.scalar(
            select(func.count()).where(SyncJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
        )
    return (events or 0) + (jobs or 0)


# -- the payments ------------------------------------------------------------------------------


@dataclass
class Paid:
    """One payment of the scenario: its invoice, route and the moment it happened."""

    invoice_id: int
    route: str  # card or xero
    at: float = 0.0
    intent_id: str = ""


def run_payments(bench: Bench, rng: random.Random) -> list[Paid]:
    env = bench.env
    order = list(bench.invoices)
    rng.shuffle(order)
    plan = [Paid(i, "card") for i in order[: PAYMENTS // 2]]
    plan += [Paid(i, "xero") for i in order[PAYMENTS // 2 :]]
    rng.shuffle(plan)
    with env.Session() as db:
        invoices = {
            i.id: i for i in db.scalars(select(Invoice).where(Invoice.id.in_(bench.invoices)))
        }
        links = {
            link.invoice_id: link.xero_invoice_id for link in db.scalars(select(XeroInvoiceLink))
        }
    session = requests.Session()
    serial = 0

    def post_card(item: Paid, bodies: list[str]) -> None:
        for body in bodies:
            if not item.at:
                item.at = time.time()
            began = time.perf_counter()
            answer = session.post(
                f"{bench.portal_url}/webhooks/stripe",
                data=body.encode(),
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": stripe_signature(body),
                },
                timeout=WEBHOOK_TIMEOUT_S,
            )
            bench.post_s.append(time.perf_counter() - began)
            if answer.status_code != 200:
                raise WrongResult(f"the portal refused Stripe's event: {answer.status_code}")

    size = PAYMENTS // BURSTS
    started = time.time()
    with ThreadPoolExecutor(STRIPE_CONNECTIONS) as stripe_pool:
        for burst in range(BURSTS):
            time.sleep(max(0.0, started + burst * BURST_EVERY_S - time.time()))
            posting = []
            for item in plan[burst * size : (burst + 1) * size]:
                invoice = invoices[item.invoice_id]
                if item.route == "card":
                    intent = bench.stripe.pay(
                        invoice.id, invoice.number or "", invoice.total, invoice.currency
                    )
                    item.intent_id = intent.id
                    bodies = []
                    for event_type, obj in (
                        ("payment_intent.succeeded", {"id": intent.id, "object": "payment_intent"}),
                        (
                            "charge.succeeded",
                            {"id": intent.latest_charge.id, "object": "charge"},  # type: ignore[union-attr]
                        ),
                    ):
                        serial += 1
                        bodies.append(stripe_event(event_type, obj, serial))
                    posting.append(stripe_pool.submit(post_card, item, bodies))
                else:
                    item.at = time.time()
                    paynow.pay_now(env.sandbox, links[item.invoice_id])
            for future in posting:
                future.result()
    return plan


def wait_until_settled(bench: Bench, thread: RunnerThread) -> None:
    """Until both books show every invoice paid and the runner has nothing left to do."""
    env = bench.env
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        if thread.errors:
            raise WrongResult(f"the job runner failed: {thread.errors[:3]}")
        with env.Session() as db:
            paid_here = db.scalar(select(func.count()).where(Invoice.status == InvoiceStatus.PAID))
        with env.sandbox.lock:
            paid_there = sum(1 for x in env.org.invoices.values() if x.status == "PAID")
        if paid_here == PAYMENTS and paid_there == PAYMENTS:
            env.sandbox.webhooks.wait()
            moment = time.time()
            time.sleep(3 * IDLE_S)
            if open_work(env) == 0 and thread.idle_since(moment):
                return
        time.sleep(0.1)
    raise WrongResult(
        f"not settled {SETTLE_S:.0f} s after the last burst: {open_work(env)} events or jobs "
        f"waiting"
    )


# -- checking and measuring --------------------------------------------------------------------


def check_books(bench: Bench, plan: list[Paid]) -> list[str]:
    env = bench.env
    problems: list[str] = []
    with env.Session() as db:
        result = check_ledgers(db, env.service.api(db))
        db.commit()
        payments = list(db.scalars(select(Payment)))
        statuses = Counter(db.scalars(select(Invoice.status)))
        stuck = Counter(
            db.scalars(select(SyncJob.status).where(SyncJob.status != JobStatus.DONE))
        ) + Counter(db.scalars(select(InboundEvent.status).where(InboundEvent.status != "done")))
    problems += [str(m) for m in result.mismatches[:10]]
    if result.checked != PAYMENTS:
        problems.append(f"the ledger check compared {result.checked} invoices, not {PAYMENTS}")
    if statuses.get(InvoiceStatus.PAID, 0) != PAYMENTS:
        problems.append(f"portal invoices: {dict(statuses)}, not {PAYMENTS} paid")
    if stuck:
        problems.append(f"jobs or events not done: {dict(stuck)}")
    with env.sandbox.lock:
        xero_invoices = list(env.org.invoices.values())
        xero_payments = {p.payment_id.lower(): p for p in env.org.payments.values()}
    xero_status = Counter(x.status for x in xero_invoices)
    if xero_status.get("PAID", 0) != PAYMENTS:
        problems.append(f"Xero invoices: {dict(xero_status)}, not {PAYMENTS} PAID")
    standing = [p for p in xero_payments.values() if p.status == "AUTHORISED"]
    if len(standing) != PAYMENTS or len(xero_payments) != PAYMENTS:
        problems.append(f"Xero holds {len(xero_payments)} payments, {len(standing)} standing")
    per_invoice = Counter(p.invoice_id for p in payments)
    if len(payments) != PAYMENTS or max(per_invoice.values(), default=0) != 1:
        problems.append(
            f"the portal holds {len(payments)} payments for {len(per_invoice)} invoices"
        )
    local_ids = Counter((p.xero_payment_id or "").lower() for p in payments)
    if set(local_ids) != set(xero_payments) or max(local_ids.values(), default=0) != 1:
        problems.append("the portal's payments and Xero's are not the same, once each")
    routes = Counter(p.source for p in payments)
    if routes != Counter({"portal": PAYMENTS // 2, "xero": PAYMENTS - PAYMENTS // 2}):
        problems.append(f"payments by source: {dict(routes)}")
    return problems


def latencies(bench: Bench, plan: list[Paid], thread: RunnerThread) -> dict[str, list[float]]:
    """Seconds from each payment's event to the end of the round after which both books
    showed its invoice paid."""
    env = bench.env
    with env.Session() as db:
        payments = {p.invoice_id: p for p in db.scalars(select(Payment))}
    with env.sandbox.lock:
        xero_at = {p.payment_id.lower(): p.updated for p in env.org.payments.values()}
    ends = [end for end, _ in thread.rounds]
    found: dict[str, list[float]] = {"card": [], "xero": []}
    for item in plan:
        payment = payments[item.invoice_id]
        both = max(payment.created_at.timestamp(), xero_at[(payment.xero_payment_id or "").lower()])
        seen = next((end for end in ends if end >= both), both)
        found[item.route].append(seen - item.at)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def main() -> int:
    neighbour = os.environ.get("BENCH_NEIGHBOUR", "") not in ("", "0")
    load_before = os.getloadavg()[0]
    print(
        f"{SCENARIO}: {PAYMENTS} invoices in Xero for {CUSTOMERS} customers, paid half by card "
        f"(Stripe's webhooks to the portal) and half with Xero's Pay now (Xero's webhooks), in "
        f"BURSTS of {PAYMENTS // BURSTS} every {BURST_EVERY_S:.0f} s, with the job runner in a "
        f"thread as the worker process runs it (interval {IDLE_S * 1000:.0f} ms, linger "
        f"{DEFAULT_LINGER.total_seconds():.2f} s)"
        + ("; a CPU-bound neighbour process shares the machine" if neighbour else "")
        + f"; load average {load_before:.2f}",
        flush=True,
    )
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        bench = set_up(Path(tmp))
        env = bench.env
        thread: RunnerThread | None = None
        burner: Neighbour | None = None
        try:
            issue_and_sync(bench, rng)
            thread = RunnerThread(
                JobRunner(env.service, env.handlers, pull=poller.puller(env.service))
            )
            burner = Neighbour(neighbour).__enter__()
            thread.start()
            # Its first round polls Xero (everything since the connection): not the scenario's.
            moment = time.time()
            while not thread.idle_since(moment):
                time.sleep(IDLE_S)
            calls_before = Counter(env.service.counter.by_method)
            received_before = env.tally.requests
            started = time.perf_counter()
            plan = run_payments(bench, rng)
            fed_s = time.perf_counter() - started
            wait_until_settled(bench, thread)
            settled_s = time.perf_counter() - started
            thread.stop()
            burner.__exit__()
            by_method = Counter(env.service.counter.by_method) - calls_before
            received = env.tally.requests - received_before
            problems = check_books(bench, plan)
            if sum(by_method.values()) != received:
                problems.append(
                    f"the portal counted {sum(by_method.values())} calls, the sandbox "
                    f"received {received}"
                )
            if problems:
                raise WrongResult("; ".join(problems[:20]))
            found = latencies(bench, plan, thread)
        except WrongResult as error:
            print(f"WRONG RESULT, so no figures: {error}", file=sys.stderr, flush=True)
            return 1
        finally:
            if thread is not None and thread.is_alive():
                thread.stop()
            if burner is not None:
                burner.__exit__()
            env.sandbox.webhook_url = None
            bench.stop_portal()  # type: ignore[operator]
            env.close()

    every = found["card"] + found["xero"]
    p50, p95 = percentile(every, 0.50), percentile(every, 0.95)
    xero_calls = sum(by_method.values())
    met_latency, met_calls = p95 <= TARGET_P95_S, xero_calls <= TARGET_CALLS
    rounds = sum(1 for _, handled in thread.rounds if handled)
    print(
        f"  fed {PAYMENTS} payments in {fed_s:.1f} s; both books settled {settled_s:.1f} s after "
        f"the first; {rounds} busy runner rounds; books checked: no mismatch, {PAYMENTS} "
        "invoices paid in both, one payment each",
        flush=True,
    )
    print(
        f"  latency (event -> paid in both) card p50 {percentile(found['card'], 0.5):.2f} s "
        f"p95 {percentile(found['card'], 0.95):.2f} s; Pay now p50 "
        f"{percentile(found['xero'], 0.5):.2f} s p95 {percentile(found['xero'], 0.95):.2f} s; "
        f"max {max(every):.2f} s",
        flush=True,
    )
    print(
        f"  xero_calls {xero_calls} by method: "
        + ", ".join(f"{m} {n}" for m, n in by_method.most_common()),
        flush=True,
    )
    print(
        f"targets: p95 {p95:.2f} s <= {TARGET_P95_S:.0f}: {'met' if met_latency else 'NOT MET'};"
        f" xero_calls {xero_calls} <= {TARGET_CALLS}: {'met' if met_calls else 'NOT MET'}",
        flush=True,
    )
    print(
        json.dumps(
            {
                "scenario": SCENARIO,
                "payments": PAYMENTS,
                "p50_s": round(p50, 3),
                "p95_s": round(p95, 3),
                "xero_calls": xero_calls,
                "calls_by_method": dict(by_method.most_common()),
                "feed": f"bursts of {PAYMENTS // BURSTS} every {BURST_EVERY_S:.0f} s",
                "neighbour": neighbour,
                "load_avg_1m_before": round(load_before, 2),
                "busy_rounds": rounds,
                "round_s_max": round(max(thread.busy_s, default=0.0), 3),
                "fed_s": round(fed_s, 1),
                "webhook_post_s_max": round(max(bench.post_s, default=0.0), 3),
                "targets_met": met_latency and met_calls,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
