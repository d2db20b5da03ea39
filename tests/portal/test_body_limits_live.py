"""A chunked 20 MiB body, sent to the portal served by gunicorn as in production, is
refused with 413 while the worker process grows by less than 30 MiB (it used to read the
whole body: 127 MB -> 1.3 GB for 300 MiB). Memory is read from /proc, not timed."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal import migrations

MIB = 1024 * 1024
BODY = 20 * MIB
CHUNK = 64 * 1024
GROWTH_LIMIT = 30 * MIB
START_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrations.upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "live-body-limit-test-secret-key-0123456789",
        "DATABASE_URL": url,
        "XERO_WEBHOOK_KEY": "live-key",
        "STRIPE_WEBHOOK_SECRET": "whsec_live",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(gunicorn), "--workers", "1", "--bind", f"127.0.0.1:{port}", "portal:create_app()"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail((tmp_path / "gunicorn.log").read_text())
            time.sleep(0.2)
    yield port, process.pid
    process.terminate()
    process.wait(10)


def post_chunked(port: int, path: str, content_type: str) -> int:
    """Send BODY bytes chunked; stop sending as soon as the portal answers. The status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    with sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        sent = 0
        try:
            while sent < BODY:
                if select.select([sock], [], [], 0)[0]:
                    break  # the answer is there: the portal stopped reading
                sock.sendall(chunk)
                sent += CHUNK
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/webhooks/xero", "application/json"),
        ("/webhooks/stripe", "application/json"),
        ("/login", "application/x-www-form-urlencoded"),
    ],
)
def test_a_chunked_20_mib_body_is_413_and_the_worker_stays_small(served, path, content_type):
    port, master = served
    # One ordinary request first, so imports and the first page are in the baseline.
    assert post_chunked_small(port) == 200
    worker = worker_pid(master)
    before = peak_rss(worker)
    assert post_chunked(port, path, content_type) == 413
    assert peak_rss(worker) - before < GROWTH_LIMIT


def post_chunked_small(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return int(sock.recv(4096).split(b" ", 2)[1])
