"""The production gunicorn settings (portal/gunicorn_conf.py) start the portal as the README
says: the app loaded once in the master, two workers forked from it each with its own
database connections, requests answered and logged."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from portal import migrations
from tests.portal.test_body_limits_live import START_TIMEOUT_S, free_port


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrations.upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "gunicorn-conf-test-secret-key-0123456789",
        "DATABASE_URL": url,
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603
            # gunicorn's control socket is one per user (~/.gunicorn): not the test's to take.
            [str(gunicorn), "-c", "python:portal.gunicorn_conf", "--no-control-socket"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=5)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(log_path.read_text())
            time.sleep(0.2)
    yield base, process.pid, log_path
    process.terminate()
    process.wait(30)


def test_two_preloaded_workers_answer_and_log(served):
    base, master, log_path = served
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # the second worker may still be starting
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(workers) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(workers) == 2
    with requests.Session() as http:
        answers = [http.get(f"{base}/healthz", timeout=10) for _ in range(10)]
        login = http.get(f"{base}/login", timeout=10)
    assert [a.status_code for a in answers] == [200] * 10
    assert all(a.json() == {"status": "ok", "database": "ok"} for a in answers)
    assert login.status_code == 200 and "csrf_token" in login.text
    log = log_path.read_text()
    assert "Using worker: gthread" in log
    # The ten, and the one that found the portal up.
    assert log.count('"GET /healthz HTTP/1.1" 200') == 11, log
