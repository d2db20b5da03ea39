"""Injected faults as xero-python surfaces them, and what was written behind them."""

from __future__ import annotations

import json

import pytest
import urllib3
from xero_python.accounting import Invoices
from xero_python.exceptions import ApiException

from .builders import create_contact, invoice
from .conftest import TIMEOUT, http


@pytest.fixture
def contact(accounting_api):
    return create_contact(accounting_api)


def _create(connected, contact_id, reference, key=None, timeout=TIMEOUT):
    options = {"idempotency_key": key} if key else {}
    return connected.api.create_invoices(
        connected.tenant_id,
        Invoices(invoices=[invoice(contact_id, reference=reference)]),
        _request_timeout=timeout,
        **options,
    ).invoices[0]


def _references(sandbox):
    return sorted(i.reference for i in sandbox.org.invoices.values())


def test_error_status_for_the_next_calls_writes_nothing(accounting_api, sandbox, contact):
    sandbox.sandbox.faults.add(
        "status", count=2, status=503, method="PUT", path="/api.xro/2.0/Invoices"
    )
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            _create(accounting_api, contact.contact_id, "r1")
        assert caught.value.status == 503
    assert _references(sandbox) == []
    _create(accounting_api, contact.contact_id, "r1")
    assert _references(sandbox) == ["r1"]


def test_faults_only_hit_matching_calls(accounting_api, sandbox, contact):
    sandbox.sandbox.faults.add("status", status=500, path="/api.xro/2.0/Payments*")
    _create(accounting_api, contact.contact_id, "unaffected")
    assert sandbox.sandbox.faults.pending()[0].count == 1


def test_slow_answer_times_the_client_out(accounting_api, sandbox, contact):
    sandbox.sandbox.faults.add("slow", seconds=1.0, path="/api.xro/2.0/Invoices")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        _create(accounting_api, contact.contact_id, "slow-before", timeout=(1, 0.3))
    # Slow before the handler: by the time it runs, it still writes.
    sandbox.sandbox.faults.add("slow", seconds=0.6, after_write=True, path="/api.xro/2.0/Invoices")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        _create(accounting_api, contact.contact_id, "slow-after", timeout=(1, 0.2))
    assert "slow-after" in _references(sandbox)


def test_dropped_answer_after_write_is_a_504_and_the_key_replays(accounting_api, sandbox, contact):
    sandbox.sandbox.faults.add("drop", path="/api.xro/2.0/Invoices")
    with pytest.raises(ApiException) as caught:
        _create(accounting_api, contact.contact_id, "dropped", key="k-dropped")
    assert caught.value.status == 504 and not caught.value.body
    assert _references(sandbox) == ["dropped"]  # the write happened
    again = _create(accounting_api, contact.contact_id, "dropped", key="k-dropped")
    assert _references(sandbox) == ["dropped"]  # and the retry did not write twice
    assert again.invoice_id == next(iter(sandbox.org.invoices))


def test_closed_connection_after_write(accounting_api, sandbox, contact):
    sandbox.sandbox.faults.add("drop", how="close", path="/api.xro/2.0/Invoices")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _create(accounting_api, contact.contact_id, "closed")
    assert _references(sandbox) == ["closed"]


def _campaign(accounting_api, sandbox, seed):
    sandbox.sandbox.faults.set_rate(0.5, seed=seed, path="/api.xro/2.0/Organisation")
    outcomes = []
    for _ in range(16):
        try:
            accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)
            outcomes.append("ok")
        except ApiException as exc:
            outcomes.append(str(exc.status))
        except urllib3.exceptions.ProtocolError:
            outcomes.append("closed")
    return outcomes


def test_fault_rate_is_mixed_and_replays_from_its_seed(accounting_api, sandbox):
    first = _campaign(accounting_api, sandbox, seed=11)
    second = _campaign(accounting_api, sandbox, seed=11)
    assert first == second
    assert "ok" in first and len(set(first)) >= 3
    other = _campaign(accounting_api, sandbox, seed=12)
    assert other != first
    sandbox.sandbox.faults.clear()


def test_faults_through_the_control_api(accounting_api, sandbox, contact):
    answer = http().request(
        "POST",
        f"{sandbox.url}/_sandbox/faults",
        body=json.dumps({"kind": "status", "status": 500, "path": "/api.xro/2.0/Invoices"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 201
    with pytest.raises(ApiException) as caught:
        _create(accounting_api, contact.contact_id, "x")
    assert caught.value.status == 500
    listed = http().request("GET", f"{sandbox.url}/_sandbox/faults").json()
    assert listed["pending"] == [] and listed["fired"][-1] == [
        "PUT",
        "/api.xro/2.0/Invoices",
        "status",
    ]
    bad = http().request(
        "POST",
        f"{sandbox.url}/_sandbox/faults",
        body=json.dumps({"kind": "explode"}),
        headers={"Content-Type": "application/json"},
    )
    assert bad.status == 400
