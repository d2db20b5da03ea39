"""The demo's Stripe: localstripe (a fake, stateful Stripe server installed with the dev
extra) run as a separate process, with its Stripe.js stand-in and signed webhooks pointed at
the portal. It is GPL-licensed, so the portal only talks to it over HTTP, never imports it."""

from __future__ import annotations

import atexit
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
from flask import Flask

log = logging.getLogger(__name__)

SECRET_KEY = "sk_test_demo_portal"  # noqa: S105 - a key for the local stand-in only
PUBLISHABLE_KEY = "pk_test_demo_portal"
WEBHOOK_SECRET = "whsec_demo_portal"  # noqa: S105


def _executable() -> str | None:
    beside = Path(sys.executable).with_name("localstripe")
    return str(beside) if beside.exists() else shutil.which("localstripe")


def start_demo_stripe(app: Flask, portal_port: int, port: int = 8420) -> str | None:
    """Start localstripe on ``port``; None (and card payments stay off) when unavailable."""
    executable = _executable()
    if executable is None:
        log.warning("localstripe is not installed: the demo offers no card payments")
        return None
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
        [executable, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{url}/js.stripe.com/v3/", timeout=1).raise_for_status()
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                log.warning("localstripe did not start: the demo offers no card payments")
                return None
            time.sleep(0.2)
    requests.post(
        f"{url}/_config/webhooks/portal",
        data={
            "url": f"http://127.0.0.1:{portal_port}/webhooks/stripe",
            "secret": WEBHOOK_SECRET,
        },
        timeout=5,
    ).raise_for_status()
    app.config.update(
        STRIPE_API_BASE=url,
        STRIPE_JS_URL=f"{url}/js.stripe.com/v3/",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    return url
