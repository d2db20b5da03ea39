"""Rate limits and Idempotency-Key replay, as xero-python meets them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from xero_python.accounting import Invoices
from xero_python.exceptions import RateLimitException

from .builders import create_contact, invoice
from .conftest import TIMEOUT


def _organisation(connected):
    _data, _status, headers = connected.api.get_organisations(
        connected.tenant_id, _return_http_data_only=False, _request_timeout=TIMEOUT
    )
    return headers


def test_minute_limit_429_with_xero_headers(accounting_api, sandbox):
    sandbox.sandbox.rate_limiter.configure(enabled=True)
    for _ in range(59):
        _organisation(accounting_api)
    headers = _organisation(accounting_api)
    assert headers["X-MinLimit-Remaining"] == "0"
    assert headers["X-DayLimit-Remaining"] == "4940"
    assert headers["X-AppMinLimit-Remaining"] == "9940"
    with pytest.raises(RateLimitException) as caught:
        _organisation(accounting_api)
    assert caught.value.status == 429
    assert caught.value.rate_limit == "minute"
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    sandbox.sandbox.advance_clock(int(caught.value.headers["Retry-After"]))
    _organisation(accounting_api)  # the window has moved on


def test_daily_limit(accounting_api, sandbox):
    sandbox.sandbox.rate_limiter.configure(enabled=True, per_day=3)
    for _ in range(3):
        _organisation(accounting_api)
    with pytest.raises(RateLimitException) as caught:
        _organisation(accounting_api)
    assert caught.value.rate_limit == "daily"
    assert int(caught.value.headers["Retry-After"]) > 60 * 60


def test_concurrent_limit(accounting_api, sandbox):
    sandbox.sandbox.rate_limiter.configure(enabled=True)
    sandbox.sandbox.faults.add("slow", count=6, seconds=0.6, path="/api.xro/2.0/Organisation")

    def call(_):
        try:
            _organisation(accounting_api)
            return "ok"
        except RateLimitException as exc:
            return exc.rate_limit

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(call, range(6)))
    assert outcomes == ["concurrent"] + ["ok"] * 5


def test_limits_are_per_organisation(accounting_api, sandbox):
    sandbox.sandbox.rate_limiter.configure(enabled=True, per_minute=2)
    _organisation(accounting_api)
    _organisation(accounting_api)
    with pytest.raises(RateLimitException):
        _organisation(accounting_api)
    other = sandbox.sandbox.add_organisation("Second Ltd")
    connected = sandbox.sandbox.connect([other.tenant_id])
    assert sandbox.sandbox.rate_limiter.acquire(other.tenant_id).allowed
    del connected


def _create(connected, contact_id, key):
    return connected.api.create_invoices(
        connected.tenant_id,
        Invoices(invoices=[invoice(contact_id)]),
        idempotency_key=key,
        _request_timeout=TIMEOUT,
    ).invoices[0]


def test_idempotency_key_replays_within_six_minutes_then_is_forgotten(accounting_api, sandbox):
    contact = create_contact(accounting_api)
    first = _create(accounting_api, contact.contact_id, "portal-invoice-17")
    sandbox.sandbox.advance_clock(5 * 60 + 59)
    replay = _create(accounting_api, contact.contact_id, "portal-invoice-17")
    assert replay.invoice_id == first.invoice_id
    assert len(sandbox.org.invoices) == 1

    sandbox.sandbox.advance_clock(2)
    late = _create(accounting_api, contact.contact_id, "portal-invoice-17")
    assert late.invoice_id != first.invoice_id
    assert len(sandbox.org.invoices) == 2


def test_idempotency_keys_are_per_organisation_and_per_key(accounting_api, sandbox):
    contact = create_contact(accounting_api)
    a = _create(accounting_api, contact.contact_id, "key-a")
    b = _create(accounting_api, contact.contact_id, "key-b")
    assert a.invoice_id != b.invoice_id
    # An error answer is replayed too: the key is spent on the first outcome.
    with pytest.raises(Exception) as first_error:
        _create(accounting_api, "00000000-0000-4000-8000-000000000000", "key-c")
    with pytest.raises(Exception) as second_error:
        _create(accounting_api, contact.contact_id, "key-c")
    assert first_error.value.body == second_error.value.body
