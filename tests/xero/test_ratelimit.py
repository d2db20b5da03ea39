"""The portal's share of Xero's limits: rolling windows, as Xero counts them."""

from datetime import UTC, datetime, timedelta

from xero.api.ratelimit import block, take_call

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TENANT = "b1c2d3e4-0000-4000-8000-000000000001"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_sixty_in_any_rolling_minute(db):
    for second in range(60):
        assert take_call(db, TENANT, at(second)) == 0
    # A fixed window starting at T0 would allow a call at 60 s; the first call must age out.
    assert take_call(db, TENANT, at(59.5)) == 0.5
    assert take_call(db, TENANT, at(60.5)) == 0  # the call at 0 s is over a minute old
    assert take_call(db, TENANT, at(60.6)) > 0  # ...and the one at 1 s is not yet


def test_a_burst_across_a_fixed_window_boundary_is_held_back(db):
    for _ in range(60):
        assert take_call(db, TENANT, at(59)) == 0
    wait = take_call(db, TENANT, at(61))
    assert 57 < wait <= 58  # those 60 calls at 59 s count until 119 s


def test_daily_budget(db):
    assert take_call(db, TENANT, at(0), per_day=2) == 0
    assert take_call(db, TENANT, at(3600), per_day=2) == 0
    assert take_call(db, TENANT, at(7200), per_day=2) == 86400 - 7200
    assert take_call(db, TENANT, at(86401), per_day=2) == 0


def test_a_429_blocks_every_caller_until_retry_after(db):
    block(db, TENANT, at(30), at(0))
    assert take_call(db, TENANT, at(10)) == 20
    assert take_call(db, TENANT, at(30)) == 0


def test_organisations_have_separate_budgets(db):
    for _ in range(60):
        take_call(db, TENANT, at(0))
    assert take_call(db, TENANT, at(1)) > 0
    assert take_call(db, "b1c2d3e4-0000-4000-8000-000000000002", at(1)) == 0
