"""``make stress`` at a tiny size, so CI runs its whole code path: the scratch database,
localstripe, the sandbox, gunicorn and three workers started and stopped, every kind of
action played over HTTP, the drain, and the counts.

It checks that the harness did what it reports (every action ran and was answered, the
workers drained, no process died, the JSON line has its shape), not that the counts are
zero: those measure the portal's races, which ``make stress`` reports at full size.
PostgreSQL only (skipped with its reason, shown by -ra, when TEST_DATABASE_URL is unset):
SQLite's single writer hides the races the harness is there to find.
"""

from __future__ import annotations

import os

import pytest

from bench.stress.counts import COUNTS
from bench.stress.scenario import run

INVOICES = 6


@pytest.fixture(scope="module")
def report():
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("the stress harness runs on PostgreSQL only (set TEST_DATABASE_URL)")
    return run(INVOICES, clients_n=4, time_budget_s=240, drain_s=60, base_url=base, log=print)


def test_the_line_has_the_scenario_and_every_count_first(report):
    line = report.line()
    assert list(line)[:7] == ["scenario", "invoices", *COUNTS]
    assert line["scenario"] == "stress_pg"
    assert line["invoices"] == INVOICES
    assert all(type(line[name]) is int and line[name] >= 0 for name in COUNTS)
    assert report.ok == (sum(line[name] for name in COUNTS) == 0)


def test_every_action_ran_and_the_workers_drained(report):
    line = report.line()
    assert line["not_run"] == 0
    assert line["client_errors"] == 0
    assert line["processes_died"] == 0
    assert line["undrained"] == 0
    outcomes = line["outcomes"]
    # Issue was double-clicked on every invoice, and each click answered (a redirect, or a
    # refusal with the page): never a server error.
    issued = {o: n for o, n in outcomes.items() if o.startswith("issue ")}
    assert sum(issued.values()) == 2 * INVOICES
    assert set(issued) <= {"issue 302", "issue 409"}
    # Stripe's events were signed the way the portal checks them.
    posted = {o for o in outcomes if o.startswith("stripe-event ")}
    assert posted == {"stripe-event 200"}


def test_every_process_it_started_was_stopped(report):
    assert report.process_ids
    for pid in report.process_ids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
