"""What happens around every API call, in Xero's order.

For the accounting API: check the bearer token and its scopes (401) and the xero-tenant-id
(403), count the call against the organisation's rate limits (429), apply any injected
fault, replay an Idempotency-Key seen in the last 6 minutes, check the request against the
OpenAPI description, run the endpoint, then store the reply for the key, check the
response, add the rate-limit headers and, for a "drop" fault, lose the reply. Identity
endpoints get faults (and /connections gets contract checks); the /_sandbox control API
gets nothing.
"""

from __future__ import annotations

import contextlib
import socket
import time

from flask import Flask, Response, g, request

from .errors import forbidden, json_response, problem, unauthorized
from .faults import Fault
from .sandbox import Sandbox
from .scopes import required_scopes

ACCOUNTING_PREFIX = "/api.xro/2.0/"
CONTROL_PREFIX = "/_sandbox"
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH"})


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def install_gateway(app: Flask, sandbox: Sandbox) -> None:
    def take_fault() -> Response | None:
        fault = sandbox.faults.take(request.method, request.path)
        if fault is None:
            return None
        g.xero_fault = fault
        if fault.kind == "status" and fault.status == 429:
            return rate_limited(fault.problem, fault.retry_after)
        if fault.kind == "status":
            return Response(
                "Service Unavailable" if fault.status == 503 else "An error occurred",
                status=fault.status,
                content_type="text/plain",
            )
        if fault.kind == "slow" and not fault.after_write:
            time.sleep(fault.seconds)
        return None

    @app.before_request
    def before_call() -> Response | None:
        path = request.path
        if path.startswith(CONTROL_PREFIX) or path.startswith("/identity/connect/authorize"):
            return None
        if not path.startswith(ACCOUNTING_PREFIX):
            refused = take_fault()
            if refused is None and sandbox.contract and path.lower().startswith("/connections"):
                check_request()
            return refused

        authorisation, reason = sandbox.identity.authorise(bearer_token())
        if authorisation is None:
            return unauthorized(reason)
        granted = frozenset(authorisation.grant.scope.split())
        needed = required_scopes(request.method, path[len(ACCOUNTING_PREFIX) :])
        if needed is not None and not needed & granted:
            return problem(401, "Unauthorized", "AuthorizationUnsuccessful")
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        organisation = sandbox.organisations.get(tenant_id)
        if organisation is None or tenant_id not in authorisation.tenant_ids:
            return forbidden()
        g.xero_organisation = organisation
        client = sandbox.identity.clients.get(authorisation.grant.client_id)
        g.xero_app_name = client.name if client else "Sandbox app"

        decision = sandbox.rate_limiter.acquire(tenant_id)
        g.xero_rate_headers = decision.headers
        if not decision.allowed:
            return rate_limited(decision.problem or "minute", decision.retry_after)
        g.xero_rate_tenant = tenant_id

        refused = take_fault()
        if refused is not None:
            return refused

        key = request.headers.get("Idempotency-Key")
        if key and request.method in WRITE_METHODS:
            lock = sandbox.idempotency.lock_for(tenant_id, key)
            lock.acquire()
            g.xero_idempotency = (tenant_id, key, lock)
            stored = sandbox.idempotency.lookup(tenant_id, key)
            if stored is not None:
                g.xero_replayed = True
                return Response(stored.body, status=stored.status, content_type=stored.content_type)

        if sandbox.contract:
            check_request()
        return None

    def check_request() -> None:
        assert sandbox.contract is not None
        for violation in sandbox.contract.check_request(request):
            sandbox.record_violation(violation)
        g.xero_contract_checked = True

    @app.after_request
    def after_call(response: Response) -> Response:
        for name, value in (g.get("xero_rate_headers") or {}).items():
            response.headers[name] = value
        idempotency = g.get("xero_idempotency")
        if idempotency and not g.get("xero_replayed") and response.status_code < 500:
            tenant_id, key, _lock = idempotency
            sandbox.idempotency.store(
                tenant_id, key, response.status_code, response.get_data(), response.content_type
            )
        if sandbox.contract and g.get("xero_contract_checked"):
            for violation in sandbox.contract.check_response(request, response):
                sandbox.record_violation(violation)
        fault: Fault | None = g.get("xero_fault")
        if fault is not None and fault.kind == "slow" and fault.after_write:
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            return lose_response(fault, response)
        return response

    @app.teardown_request
    def release_call(_exc: BaseException | None) -> None:
        idempotency = g.pop("xero_idempotency", None)
        if idempotency:
            idempotency[2].release()
        tenant_id = g.pop("xero_rate_tenant", None)
        if tenant_id:
            sandbox.rate_limiter.release(tenant_id)


def rate_limited(problem: str, retry_after: int) -> Response:
    """Xero's 429: the after-request hook adds the limiter's remaining-calls headers."""
    response = json_response(
        {"Title": "Too Many Requests", "Status": 429, "Detail": f"Rate limit exceeded ({problem})"},
        status=429,
    )
    response.headers["Retry-After"] = str(retry_after)
    response.headers["X-Rate-Limit-Problem"] = problem
    return response


def lose_response(fault: Fault, response: Response) -> Response:
    """The write is done; make sure the client cannot tell."""
    if fault.how == "close":
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            return response  # writing it fails; werkzeug logs a dropped connection
    return Response("", status=504, content_type="text/plain")
