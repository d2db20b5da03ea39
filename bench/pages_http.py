"""Serving the portal with gunicorn for pages_20k, signing in, timing pages, and a bounded
load generator; plus the few HTML look-ups the scenario needs (CSRF token, pager links)."""

from __future__ import annotations

import html
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS = 2
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_LINK = re.compile(r'<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.S | re.I)
_PAGES = re.compile(r"Page\s+\d+\s+of\s+(\d+)", re.I)
_TAG = re.compile(r"<[^>]+>")


# -- HTML look-ups ---------------------------------------------------------------------------


def csrf_token(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise ValueError("no csrf_token field on the page")
    return html.unescape(found.group(1) or found.group(2))


def links(page: str) -> list[tuple[str, str]]:
    """(href, visible text) of every link on the page."""
    return [
        (html.unescape(href), " ".join(html.unescape(_TAG.sub("", text)).split()))
        for href, text in _LINK.findall(page)
    ]


def older_link(page: str) -> str | None:
    """The pager's link to the next (older) page: "Older" with keyset paging, "Next" with
    offset paging."""
    for href, text in links(page):
        words = text.lower()
        if words.startswith(("older", "next")) or words.endswith(("older", "next")):
            return href
    return None


def page_count(page: str) -> int | None:
    """N of "Page 1 of N" (offset paging), None when the pager shows no total."""
    found = _PAGES.search(page)
    return int(found.group(1)) if found else None


# -- gunicorn --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gunicorn:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[str]
    log_path: Path
    #: Seconds from starting gunicorn until /healthz answered.
    start_s: float

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def worker_peak_rss_mib(self) -> float | None:
        """The largest peak resident set (VmHWM) among the workers, from /proc."""
        peaks = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return round(max(peaks), 1) if peaks else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def settings(database_url: str, secret_key: str) -> dict[str, str]:
    """The portal's settings, as the environment variables of README's configuration table."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "PORTAL_DEMO": "0",
        # Plain http on loopback.
        "SESSION_COOKIE_SECURE": "0",
        "REMEMBER_COOKIE_SECURE": "0",
        "XERO_WORKER_THREAD": "0",
    }


def start_gunicorn(env_settings: dict[str, str], log_path: Path) -> Gunicorn:
    port = free_port()
    argv = [
        str(BIN / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        # Its default control socket is one per user (~/.gunicorn): not ours to take.
        "--no-control-socket",
        "portal:create_app()",
    ]
    log = log_path.open("w")
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
        argv, cwd=REPO, env={**os.environ, **env_settings}, stdout=log, stderr=subprocess.STDOUT
    )
    server = Gunicorn(f"http://127.0.0.1:{port}", process, log, log_path, 0.0)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            requests.get(f"{server.url}/healthz", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"gunicorn did not start; see {log_path}") from None
            time.sleep(0.1)
    # Both workers answer (each imports the app on its own without --preload).
    for _ in range(WORKERS * 4):
        requests.get(f"{server.url}/healthz", timeout=30).raise_for_status()
    server.start_s = time.perf_counter() - started
    return server


# -- signing in and timing -------------------------------------------------------------------


def sign_in(base_url: str, email: str, password: str) -> requests.Session:
    """Through the real /login form, CSRF token and all."""
    session = requests.Session()
    form = session.get(f"{base_url}/login", timeout=30)
    form.raise_for_status()
    answer = session.post(
        f"{base_url}/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(form.text)},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"signing in as {email} answered {answer.status_code}")
    return session


def get(session: requests.Session, url: str) -> tuple[float, int]:
    """One GET: (milliseconds until the whole body was read, status)."""
    started = time.perf_counter()
    answer = session.get(url, allow_redirects=False, timeout=120)
    _ = answer.content
    return (time.perf_counter() - started) * 1000, answer.status_code


def median_and_p90(times_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return round(statistics.median(ordered), 2), round(p90, 2)


@dataclass
class Load:
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def load(
    url: str, cookies: requests.cookies.RequestsCookieJar | None, threads: int, seconds: float
) -> Load:
    """``threads`` clients, each with its own connection, sending GETs back to back for
    ``seconds``; a request not answered 200 counts as an error, not as served."""
    done = [0] * threads
    errors = [0] * threads
    stop_at = time.perf_counter() + seconds
    start_gate = threading.Barrier(threads + 1)

    def client(n: int) -> None:
        session = requests.Session()
        if cookies is not None:
            session.cookies.update(cookies)
        start_gate.wait()
        while time.perf_counter() < stop_at:
            try:
                answer = session.get(url, allow_redirects=False, timeout=60)
                ok = answer.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                done[n] += 1
            else:
                errors[n] += 1
        session.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    stop_at = started + seconds
    start_gate.wait()
    for worker in workers:
        worker.join()
    return Load(sum(done), sum(errors), time.perf_counter() - started)
