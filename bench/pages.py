"""pages_20k: the portal's pages at 200 and at 20,000 invoices, served by gunicorn.

Two datasets built with the portal's own operations (``bench.pages_data``): S (20
customers, 200 invoices, 600 lines, 100 payments) and L (2,000 customers, 20,000 invoices,
60,000 lines, 10,000 payments, 25,200 sync jobs), cached between runs. For each size, on
a fresh copy of its dataset (PostgreSQL when ``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL``
is set, SQLite otherwise):

1. Queries per request: the same app built in this process (``create_app`` on the same
   database and settings), signed in through the real /login form with Flask's test client,
   counts the SQL statements each page sends (SQLAlchemy's ``before_cursor_execute``; the
   second request of two, so what is cached per process is not counted). gunicorn runs in
   other processes, where nothing can count.
2. Latency: gunicorn (2 workers, sync, 127.0.0.1 on a free port) serves
   ``portal:create_app()`` configured by environment variables; a ``requests.Session``
   signed in through /login times ``REQUESTS`` sequential GETs of each page after
   ``WARM_UP`` untimed ones: the median.
3. At L only, throughput: ``LOAD_THREADS`` clients, each with its own connection, send GETs
   back to back for ``LOAD_S`` seconds to /healthz, the member home, the member invoice page
   and the admin invoice list, the pages taking turns for ``LOAD_WINDOWS`` windows each (a
   busy moment of the machine then falls on one window, not on one page); requests per
   second, the median of a page's windows, and each as a ratio of /healthz's.

Then the ledger check over 20,000 synced invoices, when ``bench.ledger_check`` exists
(``run_20k()``), else null.

Printed: a table of every page (queries, median and p90 latency, size of the HTML, at S
and L), the throughput, the targets beside the figures (nothing is asserted), and one JSON
line. ``worst_l_over_s``: the largest median_L / median_S over the pages, ``worst_page``
its page; ``queries_grow``: whether any page sends more statements at L than at S. A page
that does not answer 200 at either size is a wrong result: reported, exit status 1, no
figures.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import requests
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from bench import pages_data, pages_http
from bench.pages_data import PASSWORD, Landmarks, Size

SCENARIO = "pages_20k"
REQUESTS = 20
WARM_UP = 3
LOAD_THREADS = 8
LOAD_S = 2.0
LOAD_WINDOWS = 5
#: Targets from issue 10, printed beside the figures.
TARGET_WORST_L_OVER_S = 2.0
TARGET_MEMBER_HOME_VS_HEALTHZ = 0.3
TARGET_ADMIN_INVOICES_VS_HEALTHZ = 0.15
#: How many "older" links to follow for a deep page of the admin list when it has no
#: page numbers (keyset paging): S's last page.
DEEP_HOPS = 7


class WrongResult(Exception):
    """A page did not render; there is no latency to report for it."""


@dataclass(frozen=True)
class Page:
    name: str
    #: "admin", "member" or "" (signed out).
    role: str
    #: The path, found for one dataset (ids and pager links differ between S and L).
    path: Callable[[Landmarks, dict[str, str]], str]


def _fixed(path: str) -> Callable[[Landmarks, dict[str, str]], str]:
    return lambda _marks, _found: path


PAGES = [
    Page("healthz", "", _fixed("/healthz")),
    Page("admin_home", "admin", _fixed("/admin/")),
    Page("admin_invoices", "admin", _fixed("/admin/invoices")),
    Page("admin_invoices_older", "admin", lambda _m, found: found["older"]),
    Page("admin_invoices_deep", "admin", lambda _m, found: found["deep"]),
    Page(
        "admin_invoices_search",
        "admin",
        lambda marks, _f: f"/admin/invoices?q={quote_plus(marks.customer_name)}",
    ),
    Page("admin_invoice", "admin", lambda marks, _f: f"/admin/invoices/{marks.invoice_id}"),
    Page("admin_invoice_new", "admin", _fixed("/admin/invoices/new")),
    Page("admin_sync_log", "admin", _fixed("/admin/sync-log")),
    Page("admin_money_received", "admin", _fixed("/admin/reports/money-received")),
    Page("admin_customers", "admin", _fixed("/admin/customers")),
    Page("admin_customer", "admin", lambda marks, _f: f"/admin/customers/{marks.customer_id}"),
    Page("admin_needs_attention", "admin", _fixed("/admin/needs-attention")),
    Page("member_home", "member", _fixed("/")),
    Page("member_awaiting", "member", _fixed("/invoices")),
    Page("member_paid", "member", _fixed("/invoices/paid")),
    Page("member_payments", "member", _fixed("/payments")),
    Page("member_invoice", "member", lambda marks, _f: f"/invoices/{marks.invoice_id}"),
    Page("member_receipt", "member", lambda marks, _f: f"/payments/{marks.payment_id}"),
]
#: Loaded at L: page name -> the page whose cookies it needs is its role.
LOADED = ("healthz", "member_home", "member_invoice", "admin_invoices")


@dataclass
class Measured:
    path: str
    queries: int
    median_ms: float
    p90_ms: float
    kib: float


@dataclass
class Served:
    """One size's working database, served by its gunicorn, with its signed-in clients."""

    size: Size
    database_url: str
    cached: bool
    prepare_s: float
    server: pages_http.Gunicorn
    sessions: dict[str, requests.Session]
    #: page name -> (path, statements, KiB of HTML), from the in-process app.
    counted: dict[str, tuple[str, int, float]]
    pages: dict[str, Measured] = field(default_factory=dict)
    rps: dict[str, float] = field(default_factory=dict)
    load_errors: int = 0
    worker_peak_rss_mib: float | None = None


# -- queries, in this process ----------------------------------------------------------------


class InProcess:
    """The app on the same database and settings as gunicorn's, with a statement counter."""

    def __init__(self, env_settings: dict[str, str]):
        from portal import create_app

        overrides: dict[str, Any] = dict(env_settings)
        for name in ("PORTAL_DEMO", "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
            overrides[name] = False
        overrides["XERO_WORKER_THREAD"] = False
        self.app = create_app(overrides)
        self.engine = self.app.extensions["db_engine"]
        self.statements = 0
        event.listen(self.engine, "before_cursor_execute", self._count)
        self.clients: dict[str, Any] = {"": self.app.test_client()}

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def sign_in(self, role: str, email: str) -> None:
        client = self.app.test_client()
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORD,
                "csrf_token": pages_http.csrf_token(form.get_data(as_text=True)),
            },
        )
        if answer.status_code != 302:
            raise WrongResult(f"signing in as {email} in process answered {answer.status_code}")
        self.clients[role] = client

    def get(self, role: str, path: str) -> tuple[int, str, int]:
        """(status, HTML, statements) of a GET, the second of two."""
        client = self.clients[role]
        client.get(path)
        before = self.statements
        answer = client.get(path)
        return answer.status_code, answer.get_data(as_text=True), self.statements - before

    def close(self) -> None:
        self.engine.dispose()


def find_paths(app: InProcess) -> dict[str, str]:
    """The admin list's pager links, as the first page shows them."""
    status, first, _ = app.get("admin", "/admin/invoices")
    if status != 200:
        raise WrongResult(f"/admin/invoices answered {status}")
    older = pages_http.older_link(first)
    if older is None:
        raise WrongResult("/admin/invoices has no link to older invoices")
    pages = pages_http.page_count(first)
    if pages is not None:
        return {"older": older, "deep": f"/admin/invoices?page={pages}"}
    deep = older
    for _ in range(DEEP_HOPS - 1):
        _, html, _ = app.get("admin", deep)
        further = pages_http.older_link(html)
        if further is None:
            break
        deep = further
    return {"older": older, "deep": deep}


# -- one size, then both ----------------------------------------------------------------


def settle_postgres(url: str) -> None:
    """VACUUM ANALYZE the working copy, as autovacuum would long since have done on a server
    that took these rows over months: without it the trigram (GIN) indexes still hold every
    row in their pending list, which each search reads through (18 ms instead of 0.2 ms at
    L), and the planner has no statistics. (Not in ``pages_data``: its source is the cache
    key of the built datasets.) SQLite's copies get none: nothing in production would
    give SQLite statistics, and its plans are written to be right without them."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def serve(
    size: Size, base_url: str | None, workdir: Path, exits: ExitStack, log: Callable[[str], None]
) -> Served:
    """Prepare ``size``'s working copy, count each page's statements in process, and serve
    it with gunicorn, signed in as the admin and as the measured member."""
    started = time.perf_counter()
    url, cached = pages_data.prepare(size, base_url, log)
    if base_url is not None:
        settle_postgres(url)
    exits.callback(pages_data.drop_working_copy, size, base_url)
    prepare_s = time.perf_counter() - started
    marks = pages_data.landmarks(url, size)
    env_settings = pages_http.settings(url, secrets.token_urlsafe(32))
    app = InProcess(env_settings)
    try:
        app.sign_in("admin", marks.admin_email)
        app.sign_in("member", marks.member_email)
        found = find_paths(app)
        counted: dict[str, tuple[str, int, float]] = {}
        for page in PAGES:
            path = page.path(marks, found)
            status, html, statements = app.get(page.role, path)
            if status != 200:
                raise WrongResult(f"[{size.name}] {page.name} {path} answered {status}")
            counted[page.name] = (path, statements, len(html.encode()) / 1024)
    finally:
        app.close()
    server = pages_http.start_gunicorn(env_settings, workdir / f"gunicorn-{size.name}.log")
    exits.callback(server.stop)
    sessions = {
        "": requests.Session(),
        "admin": pages_http.sign_in(server.url, marks.admin_email, PASSWORD),
        "member": pages_http.sign_in(server.url, marks.member_email, PASSWORD),
    }
    log(f"  [{size.name}] served in {server.start_s:.1f} s; statements counted")
    return Served(size, url, cached, prepare_s, server, sessions, counted)


def time_pages(both: list[Served]) -> None:
    """Each page's latency at every size, the sizes taking turns request by request: on a
    machine others share, a busy moment then slows S and L alike instead of one of them."""
    for page in PAGES:
        for served in both:
            path = served.counted[page.name][0]
            for _ in range(WARM_UP):
                pages_http.get(served.sessions[page.role], served.server.url + path)
        times: list[list[float]] = [[] for _ in both]
        statuses: list[set[int]] = [set() for _ in both]
        for _ in range(REQUESTS):
            for n, served in enumerate(both):
                path = served.counted[page.name][0]
                ms, status = pages_http.get(served.sessions[page.role], served.server.url + path)
                times[n].append(ms)
                statuses[n].add(status)
        for n, served in enumerate(both):
            path, statements, kib = served.counted[page.name]
            if statuses[n] != {200}:
                raise WrongResult(
                    f"[{served.size.name}] {page.name} {path} answered {sorted(statuses[n])} "
                    "through gunicorn"
                )
            median, p90 = pages_http.median_and_p90(times[n])
            served.pages[page.name] = Measured(path, statements, median, p90, round(kib, 1))


def load_pages(served: Served, log: Callable[[str], None]) -> None:
    roles = {page.name: page.role for page in PAGES}
    windows: dict[str, list[float]] = {name: [] for name in LOADED}
    for _ in range(LOAD_WINDOWS):
        for name in LOADED:
            role = roles[name]
            cookies = served.sessions[role].cookies if role else None
            measured = pages_http.load(
                served.server.url + served.pages[name].path, cookies, LOAD_THREADS, LOAD_S
            )
            windows[name].append(measured.per_second)
            served.load_errors += measured.errors
    for name, per_second in windows.items():
        served.rps[name] = round(statistics.median(per_second), 1)
    log(f"  [{served.size.name}] throughput measured")


# -- summary ---------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def summarise(small: dict[str, Measured], large: dict[str, Measured]) -> dict[str, Any]:
    """worst_page and worst_l_over_s over the pages both sizes measured; the pages whose
    statements grew from S to L."""
    worst_page, worst = None, 0.0
    for name, measured in large.items():
        if name not in small or not small[name].median_ms:
            continue
        over = measured.median_ms / small[name].median_ms
        if worst_page is None or over > worst:
            worst_page, worst = name, over
    grown = sorted(
        name
        for name, measured in large.items()
        if name in small and measured.queries > small[name].queries
    )
    return {
        "worst_page": worst_page,
        "worst_l_over_s": round(worst, 2) if worst_page else None,
        "queries_grow": bool(grown),
        "queries_grown_pages": grown,
    }


def vs_healthz(rps: dict[str, float], name: str) -> float | None:
    if name not in rps or not rps.get("healthz"):
        return None
    return ratio(rps[name], rps["healthz"])


def ledger_check(log: Callable[[str], None]) -> dict[str, Any]:
    """``bench.ledger_check.run_20k()`` when that module exists (another branch's)."""
    try:
        from bench import ledger_check  # type: ignore[attr-defined]
    except ImportError:
        return {"ledger_check_20k_s": None, "ledger_check_peak_rss_mib": None}
    log("  ledger check over 20,000 synced invoices (bench.ledger_check.run_20k)")
    try:
        figures = dict(ledger_check.run_20k())
    except Exception as error:  # noqa: BLE001 - reported, the pages' figures still stand
        return {
            "ledger_check_20k_s": None,
            "ledger_check_peak_rss_mib": None,
            "ledger_check_error": f"{type(error).__name__}: {error}",
        }
    figures.setdefault("ledger_check_20k_s", None)
    figures.setdefault("ledger_check_peak_rss_mib", None)
    return figures


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def table(small: Served, large: Served) -> str:
    header = (
        f"{'page':<24} {'queries S':>9} {'L':>5} {'median S ms':>11} {'L':>8} {'L/S':>6} "
        f"{'p90 L ms':>8} {'KiB S':>6} {'L':>6}  path at L"
    )
    rows = [header, "-" * len(header)]
    for page in PAGES:
        s, l_ = small.pages[page.name], large.pages[page.name]
        over = ratio(l_.median_ms, s.median_ms)
        rows.append(
            f"{page.name:<24} {s.queries:>9} {l_.queries:>5} {s.median_ms:>11.1f} "
            f"{l_.median_ms:>8.1f} {over if over is not None else 'n/a':>6} {l_.p90_ms:>8.1f} "
            f"{s.kib:>6.1f} {l_.kib:>6.1f}  {l_.path}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    def log(message: str) -> None:
        print(message, flush=True)

    base_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or None
    database = "postgresql" if base_url else "sqlite"
    log(
        f"{SCENARIO}: the portal's pages at S ({pages_data.S.invoices} invoices) and L "
        f"({pages_data.L.invoices}), gunicorn with {pages_http.WORKERS} workers on {database}; "
        f"median of {REQUESTS} requests per page, then {LOAD_THREADS} clients for "
        f"{LOAD_S:.0f} s per window, {LOAD_WINDOWS} windows per loaded page at L"
    )
    wall = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, ExitStack() as exits:
            small = serve(pages_data.S, base_url, Path(tmp), exits, log)
            large = serve(pages_data.L, base_url, Path(tmp), exits, log)
            time_pages([small, large])
            log(f"  {len(PAGES)} pages timed at both sizes")
            # S's gunicorn stays up but idle: it takes no CPU from L's.
            load_pages(large, log)
            large.worker_peak_rss_mib = large.server.worker_peak_rss_mib()
    except WrongResult as error:
        print(f"WRONG RESULT, so no figures: {error}", file=sys.stderr, flush=True)
        return 1
    ledger = ledger_check(log)

    log(table(small, large))
    rps = large.rps
    log(
        "throughput at L ("
        f"{LOAD_THREADS} clients, median of {LOAD_WINDOWS} windows of {LOAD_S:.0f} s; "
        f"{large.load_errors} errors): "
        + ", ".join(f"{name} {value}/s" for name, value in rps.items())
    )
    summary = summarise(small.pages, large.pages)
    member_home = vs_healthz(rps, "member_home")
    member_invoice = vs_healthz(rps, "member_invoice")
    admin_invoices = vs_healthz(rps, "admin_invoices")
    worst = summary["worst_l_over_s"]
    checks = {
        "worst_l_over_s": None if worst is None else worst <= TARGET_WORST_L_OVER_S,
        "queries_grow": not summary["queries_grow"],
        "member_home_vs_healthz": (
            None if member_home is None else member_home >= TARGET_MEMBER_HOME_VS_HEALTHZ
        ),
        "admin_invoices_vs_healthz": (
            None if admin_invoices is None else admin_invoices >= TARGET_ADMIN_INVOICES_VS_HEALTHZ
        ),
    }
    log(
        f"targets: worst_l_over_s {worst} ({summary['worst_page']}) <= "
        f"{TARGET_WORST_L_OVER_S:g}: {met(checks['worst_l_over_s'])}; queries_grow "
        f"{summary['queries_grow']} {summary['queries_grown_pages'] or ''} == false: "
        f"{met(checks['queries_grow'])}; member_home_vs_healthz {member_home} >= "
        f"{TARGET_MEMBER_HOME_VS_HEALTHZ:g}: {met(checks['member_home_vs_healthz'])}; "
        f"admin_invoices_vs_healthz {admin_invoices} >= {TARGET_ADMIN_INVOICES_VS_HEALTHZ:g}: "
        f"{met(checks['admin_invoices_vs_healthz'])}; ledger_check_20k_s "
        f"{ledger['ledger_check_20k_s']} (its own scenario's target)"
    )
    line = {
        "scenario": SCENARIO,
        "database": database,
        **{k: summary[k] for k in ("worst_page", "worst_l_over_s", "queries_grow")},
        "member_home_vs_healthz": member_home,
        "member_invoice_vs_healthz": member_invoice,
        "admin_invoices_vs_healthz": admin_invoices,
        **ledger,
        "queries_grown_pages": summary["queries_grown_pages"],
        "rps_l": rps,
        "load_errors": large.load_errors,
        "median_ms_s": {name: m.median_ms for name, m in small.pages.items()},
        "median_ms_l": {name: m.median_ms for name, m in large.pages.items()},
        "queries_s": {name: m.queries for name, m in small.pages.items()},
        "queries_l": {name: m.queries for name, m in large.pages.items()},
        "kib_l": {name: m.kib for name, m in large.pages.items()},
        "gunicorn_start_s": round(large.server.start_s, 2),
        "gunicorn_worker_peak_rss_mib_l": large.worker_peak_rss_mib,
        "bench_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dataset_cached": {"s": small.cached, "l": large.cached},
        "prepare_s": {"s": round(small.prepare_s, 1), "l": round(large.prepare_s, 1)},
        "wall_s": round(time.perf_counter() - wall, 1),
        "targets_met": all(v is not False for v in checks.values()),
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
