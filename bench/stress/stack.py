"""The portal in its production shape on loopback, for the stress run; everything it starts
is stopped again by the ``ExitStack`` it was registered with, in reverse order.

- a scratch PostgreSQL database beside STRESS_DATABASE_URL (the tests' helper), migrated;
- localstripe as a subprocess, in a private /tmp when ``unshare`` allows (it pickles its
  whole state to /tmp/localstripe.pickle on every write) and always ``--from-scratch``;
- the Xero sandbox served in this process on a free port, connected the way the demo does
  it (``start_demo_sandbox`` + ``connect_demo``, i.e. ``xero.api.connection.connect``), posting
  its signed INVOICE webhooks to the portal's gunicorn;
- ONE gunicorn, TWO workers, serving ``portal:create_app()``, and THREE ``flask --app
  portal xero worker`` processes, all configured through the environment variables of
  README's configuration table.

This process keeps an app of its own on the same settings: to seed, connect, and read
Xero through the portal's own service when the books are checked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests
from flask import Flask
from sqlalchemy.orm import Session

from billing.events import EventBus
from portal import create_app, migrations
from portal.xero_setup import connect_demo, start_demo_sandbox
from tests import localstripe as stripe_stand_in
from tests.conftest import scratch_postgres_database
from tests.localstripe import LocalStripe

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GUNICORN_WORKERS = 2
#: Threads per gunicorn worker: a browser-like client load overlaps requests in one worker.
GUNICORN_THREADS = 4
XERO_WORKERS = 3
#: Seconds a worker sleeps when it found nothing to do (README: XERO_WORKER_INTERVAL).
WORKER_INTERVAL = 2
#: Generous: the machine is shared, and four Python processes start at once.
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Stack:
    workdir: Path
    database_url: str
    #: The settings every portal process runs with (environment variables, as strings).
    settings: dict[str, str]
    app: Flask
    portal_url: str
    stripe: LocalStripe
    processes: list[subprocess.Popen] = field(default_factory=list)
    #: What each process is (gunicorn, worker, localstripe), in the same order.
    roles: list[str] = field(default_factory=list)

    @property
    def sandbox(self):
        return self.app.extensions["xero_sandbox"]

    @property
    def sandbox_url(self) -> str:
        return self.app.config["XERO_BASE_URL"]

    def session(self) -> Session:
        # The app's session: what the bench does with it reaches the app's outbox.
        bus: EventBus = self.app.extensions["event_bus"]
        return bus.attach(Session(self.app.extensions["db_engine"], expire_on_commit=False))

    def connect_to_xero(self, admin_id: int) -> None:
        """As an admin's consent does it (and the demo): tokens, settings, tax mappings."""
        with self.session() as db, db.begin():
            connect_demo(db, self.app, admin_id)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far, by role (a process and its children, e.g. gunicorn's
        workers): where the run's time went on a shared machine."""
        used: dict[str, float] = {}
        for role, process in zip(self.roles, self.processes, strict=True):
            used[role] = round(used.get(role, 0.0) + _cpu_of_tree(process.pid), 1)
        return used

    def stop_xero_workers(self) -> None:
        """Before the books are read: nothing changes under the count, and the workers'
        follow-up calls no longer take the rate budget the ledger check needs."""
        for role, process in zip(self.roles, self.processes, strict=True):
            if role == "xero workers":
                stop_process(process)

    def dead_processes(self) -> list[str]:
        return [r for r, p in zip(self.roles, self.processes, strict=True) if p.poll() is not None]


def free_port() -> int:
    return stripe_stand_in._free_port()


def start(exits: ExitStack, workdir: Path, base_url: str | None = None) -> Stack:
    """Database, localstripe, the harness's app and the sandbox; no portal process yet."""
    base_url = base_url or os.environ.get("STRESS_DATABASE_URL") or DEFAULT_DATABASE_URL
    database_url, drop = scratch_postgres_database(base_url, "stress")
    exits.callback(drop)
    migrations.upgrade(database_url)
    stripe, stripe_process = _start_localstripe(exits, workdir)
    portal_port = free_port()
    typed: dict[str, str | int | bool] = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PORTAL_DEMO": False,
        # Plain http on loopback.
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "XERO_WORKER_THREAD": False,
        "XERO_WORKER_INTERVAL": WORKER_INTERVAL,
        "XERO_SANDBOX_PORT": 0,
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_JS_URL": stripe.js_url,
        "STRIPE_SECRET_KEY": stripe_stand_in.SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": stripe_stand_in.PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": stripe_stand_in.WEBHOOK_SECRET,
        "XERO_WEBHOOK_KEY": secrets.token_urlsafe(32),
    }
    app = create_app(dict(typed))
    exits.callback(app.extensions["db_engine"].dispose)
    start_demo_sandbox(app, portal_port)
    exits.callback(app.extensions["xero_sandbox_stop"])
    for name in ("XERO_BASE_URL", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_REDIRECT_URI"):
        typed[name] = app.config[name]
    # As environment variables: booleans are 1/0 (README's configuration table).
    settings = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in typed.items()}
    portal_url = f"http://127.0.0.1:{portal_port}"
    return Stack(
        workdir, database_url, settings, app, portal_url, stripe, [stripe_process], ["localstripe"]
    )


def start_portal(exits: ExitStack, stack: Stack) -> None:
    """gunicorn and the Xero workers, started while the caller seeds and connects (they take
    a while to import); ``wait_for_portal`` then waits for them."""
    env = {**os.environ, **stack.settings}
    port = stack.portal_url.rsplit(":", 1)[1]
    gunicorn = [
        str(BIN / "gunicorn"),
        "--workers",
        str(GUNICORN_WORKERS),
        "--threads",
        str(GUNICORN_THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        # Its default control socket is one per user (~/.gunicorn): not ours to take.
        "--no-control-socket",
        "portal:create_app()",
    ]
    _spawn(exits, stack, "gunicorn", gunicorn, env)
    for n in range(XERO_WORKERS):
        worker = [str(BIN / "flask"), "--app", "portal", "xero", "worker"]
        _spawn(exits, stack, f"worker-{n + 1}", worker, env, role="xero workers")


def wait_for_portal(stack: Stack) -> None:
    """Until gunicorn answers; then localstripe's events go to it."""
    _wait_for(f"{stack.portal_url}/healthz", stack, "gunicorn")
    stack.stripe.send_webhooks_to(f"{stack.portal_url}/webhooks/stripe")


def _spawn(
    exits: ExitStack, stack: Stack, name: str, argv: list[str], env: dict, role: str = ""
) -> None:
    log = (stack.workdir / f"{name}.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own executables, fixed arguments
        argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    stack.processes.append(process)
    stack.roles.append(role or name)
    exits.callback(log.close)
    exits.callback(stop_process, process)


def _cpu_of_tree(pid: int) -> float:
    """utime + stime of the process and of its live children, in seconds (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(url: str, stack: Stack, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            requests.get(url, timeout=1).raise_for_status()
            return
        except requests.RequestException:
            if stack.dead_processes() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not start (exited: {stack.dead_processes()}); logs in "
                    f"{stack.workdir}"
                ) from None
            time.sleep(0.2)


def _private_tmp(executable: str) -> list[str]:
    """A command prefix giving localstripe a /tmp of its own, when this user may have one
    and the program does not itself live under /tmp (a checkout there, as some CI runners
    lay it out, would vanish behind the new mount). Without it nothing breaks: a server
    started --from-scratch only ever writes /tmp/localstripe.pickle, never reads it back."""
    if Path(executable).resolve().is_relative_to("/tmp"):  # noqa: S108 - a test tool's path
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = [unshare, "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /tmp"]
    try:
        if subprocess.run(probe, capture_output=True, timeout=10).returncode != 0:  # noqa: S603
            return []
    except (OSError, subprocess.TimeoutExpired):
        return []
    mount_then_run = 'mount -t tmpfs none /tmp && exec "$@"'
    return [unshare, "-m", "--propagation", "private", "sh", "-c", mount_then_run, "sh"]


def _start_localstripe(exits: ExitStack, workdir: Path) -> tuple[LocalStripe, subprocess.Popen]:
    executable = stripe_stand_in._executable()
    if not executable:
        raise RuntimeError("localstripe is not installed (pip install -e .[dev])")
    port = free_port()
    log = (workdir / "localstripe.log").open("w")
    exits.callback(log.close)
    process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
        [*_private_tmp(executable), executable, "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    exits.callback(stop_process, process)
    stripe = LocalStripe(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            requests.get(stripe.js_url, timeout=1).raise_for_status()
            return stripe, process
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not start; see {log.name}") from None
            time.sleep(0.1)
