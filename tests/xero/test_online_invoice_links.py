"""Xero's online invoice link becomes an href on members' pages, so the sync keeps only an
https link (or the stand-in's own): whatever else the sandbox answers is refused, stays out
of the database and puts the job in front of an admin."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from xero.api import ratelimit
from xero.api.errors import RateLimited
from xero.models import JobKind, JobStatus, XeroCall
from xero.sync import online_links

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


# -- on demand, when a member asks to pay via Xero ----------------------------------------


def _pushed_without_link(env) -> int:
    """An invoice in Xero whose online link the worker has not fetched yet."""
    invoice_id = env.issue(env.add_customer(name="Asks First Ltd"))
    env.worker().run_once()  # the batched push only: follow-ups wait for an idle round
    assert env.link(invoice_id).xero_invoice_id and not env.link(invoice_id).online_invoice_url
    [job] = link_jobs(env)
    assert job.status == JobStatus.PENDING
    return invoice_id


def link_jobs(env):
    return [j for j in env.jobs() if j.kind == JobKind.ONLINE_INVOICE]


def member_fetch(env, invoice_id: int) -> str:
    """What the member's "pay via Xero" request does, committed as the request would be."""
    with env.Session() as db:
        url = online_links.fetch_for_member(env.service, db, invoice_id)
        db.commit()
        return url


def online_calls(env) -> int:
    return env.service.counter.by_method.get("get_online_invoice", 0)


def test_a_member_gets_the_link_at_once_and_the_worker_does_not_fetch_it_again(env):
    invoice_id = _pushed_without_link(env)

    url = member_fetch(env, invoice_id)

    assert url and url == env.link(invoice_id).online_invoice_url
    assert env.link(invoice_id).xero_invoice_id in url
    [job] = link_jobs(env)
    assert job.status == JobStatus.DONE
    assert online_calls(env) == 1
    env.drain_all()
    assert online_calls(env) == 1  # the background job was the member's: done
    assert member_fetch(env, invoice_id) == url and online_calls(env) == 1  # stored now


def test_a_link_being_fetched_by_the_worker_is_not_fetched_again_for_a_member(env):
    invoice_id = _pushed_without_link(env)
    worker = env.worker()
    assert worker.claim(JobKind.ONLINE_INVOICE)  # the worker holds the job, about to call

    assert member_fetch(env, invoice_id) == ""  # on its way
    assert online_calls(env) == 0


def test_the_worker_leaves_a_link_a_member_is_fetching(env):
    invoice_id = _pushed_without_link(env)
    with env.Session() as db, db.begin():
        job, held = online_links._claim(db, invoice_id, env.clock())
        assert job is not None and not held
    assert env.worker().claim(JobKind.ONLINE_INVOICE) == []

    env.advance(online_links.MEMBER_LEASE.total_seconds() + 1)  # that member's fetch died
    assert env.worker().drain() and env.link(invoice_id).online_invoice_url


def test_a_stored_link_is_never_overwritten(env):
    invoice_id = _pushed_without_link(env)
    with env.Session() as db, db.begin():
        assert online_links.store_link(db, invoice_id, "https://in.xero.com/first") == (
            "https://in.xero.com/first"
        )
    with env.Session() as db, db.begin():
        assert online_links.store_link(db, invoice_id, "https://in.xero.com/second") == (
            "https://in.xero.com/first"
        )
    assert env.link(invoice_id).online_invoice_url == "https://in.xero.com/first"


def test_members_have_calls_of_the_minute_that_background_work_leaves(env):
    env.service.per_minute = 60
    invoice_id = _pushed_without_link(env)
    tenant_id = env.org.tenant_id
    with env.Session() as db, db.begin():
        spent = sum(1 for c in db.scalars(select(XeroCall)))
        for _ in range(ratelimit.background_budget(60) - spent):
            assert ratelimit.take_call(db, tenant_id, env.clock(), 60) == 0
    with env.Session() as db:
        api = env.service.api(db)
        db.commit()
    with pytest.raises(RateLimited) as refused:
        api.online_invoice_url(env.link(invoice_id).xero_invoice_id)
    assert not refused.value.whole_organisation  # background stops; nothing is blocked

    assert member_fetch(env, invoice_id)  # from the members' reserve

    with env.Session() as db, db.begin():
        while ratelimit.take_call(db, tenant_id, env.clock(), 60) == 0:
            pass  # the rest of the minute, spent
    second = _pushed_without_link_for(env, "Asks Later Ltd")
    assert member_fetch(env, second) == ""  # on its way: the minute is spent
    [job] = [j for j in link_jobs(env) if j.object_id == second]
    assert job.status == JobStatus.PENDING  # given back to the worker, for the next minute


def _pushed_without_link_for(env, name: str) -> int:
    invoice_id = env.issue(env.add_customer(name=name))
    env.service.per_minute = 10**6
    env.worker().run_once()
    env.service.per_minute = 60
    assert env.link(invoice_id).xero_invoice_id
    return invoice_id


def test_members_asking_at_once_fetch_the_link_once(env):
    """Four members' requests at the same moment (threads, sessions of their own; on
    PostgreSQL the claims meet in SKIP LOCKED): one call to Xero, one link, and each
    member gets it or is told it is on its way."""
    invoice_id = _pushed_without_link(env)
    start = threading.Barrier(4)
    answers: list[str] = []
    errors: list[BaseException] = []

    def member() -> None:
        try:
            start.wait(5)
            answers.append(member_fetch(env, invoice_id))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=member) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    stored = env.link(invoice_id).online_invoice_url
    assert stored and set(answers) <= {stored, ""} and stored in answers
    assert online_calls(env) == 1
    assert [j.status for j in link_jobs(env)] == [JobStatus.DONE]
