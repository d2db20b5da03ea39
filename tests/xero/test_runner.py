"""The worker process's loop: work while there is work, then wait, and survive failures."""

import pytest

from portal.worker import JobRunner


class Stop(Exception):
    pass


def test_run_forever_works_until_idle_then_waits(env, monkeypatch):
    env.issue(env.add_customer(name="Acme"))
    runner = JobRunner(env.service, env.handlers)
    rounds = []
    real = runner.run_once

    def counted():
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("a round that fails is logged, not fatal")
        return real()

    monkeypatch.setattr(runner, "run_once", counted)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= 2:
            raise Stop

    with pytest.raises(Stop):
        runner.run_forever(interval=7, sleep=sleep)
    assert sleeps[0] == 7
    assert len(env.xero_invoices()) == 1
    assert len(rounds) >= 3  # the failed round, the work, the idle round
