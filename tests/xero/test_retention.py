"""Done sync jobs leave the log after the retention period; stopped ones and the audit log
stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.worker import job_runner
from xero.models import AuditEntry, JobKind, JobStatus, SyncAttempt, SyncJob
from xero.sync.retention import prune_done_jobs

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=90)


def job(db, status: JobStatus, age: timedelta) -> SyncJob:
    made = SyncJob(
        kind=JobKind.INVOICE,
        object_id=1,
        status=status,
        idempotency_key=uuid.uuid4().hex,
        updated_at=NOW - age,
    )
    made.attempts_log.append(SyncAttempt(outcome="ok", at=NOW - age))
    db.add(made)
    db.flush()
    return made


@pytest.fixture
def jobs(db):
    db.execute(SyncJob.__table__.delete())
    return {
        "old done": job(db, JobStatus.DONE, KEEP + timedelta(days=1)),
        "older done": job(db, JobStatus.DONE, KEEP * 3),
        "recent done": job(db, JobStatus.DONE, KEEP - timedelta(minutes=1)),
        "old attention": job(db, JobStatus.NEEDS_ATTENTION, KEEP * 2),
        "old ignored": job(db, JobStatus.IGNORED, KEEP * 2),
        "old pending": job(db, JobStatus.PENDING, KEEP * 2),
    }


def remaining(db) -> set[int]:
    db.expire_all()
    return set(db.scalars(select(SyncJob.id)))


def test_only_done_jobs_past_the_retention_go(db, jobs):
    assert prune_done_jobs(lambda: db, now=NOW, keep=KEEP, batch=1) == 2
    kept = {name for name, j in jobs.items() if j.id in remaining(db)}
    assert kept == {"recent done", "old attention", "old ignored", "old pending"}
    # Their attempts went with them; the others' stay.
    assert db.scalar(select(func.count()).select_from(SyncAttempt)) == 4
    entries = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "sync_log.prune")))
    assert [e.subject for e in entries] == ["1 done sync jobs", "1 done sync jobs"]
    assert "kept 90 days" in entries[0].detail


def test_a_second_sweep_finds_nothing(db, jobs):
    prune_done_jobs(lambda: db, now=NOW, keep=KEEP)
    before = db.scalar(select(func.count()).select_from(AuditEntry))
    assert prune_done_jobs(lambda: db, now=NOW, keep=KEEP) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == before


@pytest.mark.parametrize("app_settings", [{"SYNC_LOG_RETENTION_DAYS": 30}])
def test_the_worker_sweeps_once_an_hour_with_the_setting(app, db, jobs):
    runner = job_runner(app)
    assert runner.keep_done_jobs == timedelta(days=30)
    now = NOW - KEEP + timedelta(days=30)
    recent, recent_id, old_id = jobs["recent done"], jobs["recent done"].id, jobs["old done"].id
    recent.updated_at = now - timedelta(days=29)
    db.flush()
    # 30 days kept: the two old done jobs go, the one done 29 days ago stays.
    assert runner.sweep_if_due(now) == 2
    assert recent_id in remaining(db) and old_id not in remaining(db)
    # Within the hour, no second sweep, though the job has aged out by then...
    db.get(SyncJob, recent_id).updated_at = now - timedelta(days=31)
    db.flush()
    assert runner.sweep_if_due(now + timedelta(minutes=59)) == 0
    assert recent_id in remaining(db)
    # ...and an hour on it goes.
    assert runner.sweep_if_due(now + timedelta(hours=1)) == 1
    assert recent_id not in remaining(db)


def test_the_retention_must_be_a_day_or_more(database_url):
    from portal.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SYNC_LOG_RETENTION_DAYS must be at least 1"):
        load_settings({"SYNC_LOG_RETENTION_DAYS": 0, "SECRET_KEY": "x"})
