"""Xero's online invoice link becomes an href on members' pages, so the sync keeps only an
https link (or the stand-in's own): whatever else the sandbox answers is refused, stays out
of the database and puts the job in front of an admin."""

from __future__ import annotations

import pytest

from xero.models import JobKind, JobStatus

HOSTILE = [
    "javascript:alert(document.cookie)//{invoice_id}",
    "data:text/html,<script>alert(1)</script>{invoice_id}",
    "http://in.xero.com/{invoice_id}",
    "https://user@in.xero.com/{invoice_id}",
]


def test_an_https_link_is_stored(env):
    env.sandbox.online_invoice_url = "https://in.xero.com/{invoice_id}"
    invoice_id = env.issue(env.add_customer(name="Safe Links Ltd"))
    env.drain_all()
    link = env.link(invoice_id)
    assert link.online_invoice_url == f"https://in.xero.com/{link.xero_invoice_id}"


@pytest.mark.parametrize("pattern", HOSTILE)
def test_any_other_link_is_refused_and_not_stored(env, pattern):
    env.sandbox.online_invoice_url = pattern
    invoice_id = env.issue(env.add_customer(name="Hostile Links Ltd"))
    env.drain_all()
    assert env.link(invoice_id).online_invoice_url == ""
    [job] = [j for j in env.jobs() if j.kind == JobKind.ONLINE_INVOICE]
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert "not an https address" in job.last_error
