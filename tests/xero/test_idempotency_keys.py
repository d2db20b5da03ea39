"""The Idempotency-Keys the portal sends Xero stay what they were: a key changed between two
attempts at one write would let Xero carry the write out twice."""

from __future__ import annotations

import hashlib

from xero.api.idempotency import idempotency_key


def _legacy(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:48]


def test_keys_are_the_hash_of_the_parts_joined_by_colons():
    assert idempotency_key("invoices", "a,b") == _legacy("invoices:a,b")
    assert idempotency_key("ahead", "3,4") == _legacy("ahead:3,4")
    assert idempotency_key("delete", "job-1", "pay-9") == _legacy("delete:job-1:pay-9")
    assert len(idempotency_key("x")) == 48


def test_batch_keys_ignore_the_order_of_the_jobs():
    from types import SimpleNamespace

    from xero.sync.invoices import batch_key

    jobs = [SimpleNamespace(idempotency_key=k) for k in ("k2", "k1")]
    assert batch_key("invoices", jobs) == _legacy("invoices:k1,k2")  # type: ignore[arg-type]
