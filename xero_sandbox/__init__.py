"""A stateful local Xero: identity, accounting API, Xero's rules, limits and faults.

Quick start::

    from xero_sandbox import Sandbox, create_sandbox_app, serve_in_thread

    sandbox = Sandbox(rate_limits=True, validate_contract=False)
    org = sandbox.add_organisation("Demo Company (UK)", country="GB")   # GB, AU, NZ, ZA
    client = sandbox.register_client("CLIENT_ID", "SECRET", redirect_uris=None)
    connected = sandbox.connect([org.tenant_id], client=client)  # token dict, no browser
    base_url, stop = serve_in_thread(create_sandbox_app(sandbox))
    # AccountingApi(api_client, base_url=f"{base_url}/api.xro/2.0")
    # IdentityApi(api_client, base_url=base_url)
    # TokenApi.refresh_token_url = f"{base_url}/connect/token"
    # browser consent: f"{base_url}/identity/connect/authorize?..."

Knobs: ``sandbox.faults.add("status"|"slow"|"drop", count, method=, path=, ...)`` and
``sandbox.faults.set_rate(p, seed)``; ``sandbox.advance_clock(seconds)`` (or pass a
``Clock``); ``sandbox.rate_limiter.configure(enabled=..., per_minute=...)``;
``sandbox.attach_payment_service(tenant_id, theme_id, "Stripe")``;
``sandbox.contract_violations`` when built with ``validate_contract=True``;
``sandbox.webhook_url`` / ``sandbox.webhook_key`` subscribe an app to Xero's signed INVOICE
webhooks (``sandbox.webhooks.deliveries``, ``sandbox.webhooks.wait()``); the online invoice's
"Pay now" (``paynow.pay_now``) pays like Xero's linked Stripe service. The same knobs are
under ``/_sandbox/`` over HTTP (see ``control.py``).
"""

from __future__ import annotations

from flask import Flask

from .accounting import create_accounting_blueprint
from .accounting.common import BadRequest, handle_bad_request
from .clock import Clock
from .contract import ContractViolation
from .faults import Fault
from .oauth import s256_challenge
from .ratelimit import RateLimitSettings
from .sandbox import ConnectedApp, Sandbox
from .server import serve_in_thread

__all__ = [
    "Clock",
    "ConnectedApp",
    "ContractViolation",
    "Fault",
    "RateLimitSettings",
    "Sandbox",
    "create_sandbox_app",
    "s256_challenge",
    "serve_in_thread",
]


def create_sandbox_app(sandbox: Sandbox | None = None) -> Flask:
    """The sandbox as a Flask app. Without a sandbox, a demo one with a UK organisation."""
    from . import control, identity
    from .gateway import install_gateway

    if sandbox is None:
        sandbox = Sandbox()
        sandbox.add_organisation("Demo Company (UK)", country="GB")
    app = Flask(__name__)
    app.extensions["xero_sandbox"] = sandbox
    install_gateway(app, sandbox)
    app.register_blueprint(identity.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(create_accounting_blueprint())
    app.register_error_handler(BadRequest, handle_bad_request)
    return app
