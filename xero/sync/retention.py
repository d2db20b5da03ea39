"""The sync log keeps done jobs for a retention period (``SYNC_LOG_RETENTION_DAYS``), then
the worker deletes them with their attempts: a job that reached Xero has nothing left to
say but that it did, and a log that only grows makes every look at it slower.

Jobs that stopped (needs attention, ignored) are kept whatever their age: an admin still has
a decision to make about them. What admins did to jobs (Retry, Ignore) is in the audit log,
which is not pruned, and each sweep leaves an entry there saying what it deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from xero.models import AuditEntry, JobStatus, SyncAttempt, SyncJob

#: Jobs deleted per transaction: short transactions, so the sweep never holds up the worker.
BATCH = 1000


def prune_done_jobs(
    session_factory: Callable[[], Session], *, now: datetime, keep: timedelta, batch: int = BATCH
) -> int:
    """Delete done jobs last changed before ``now - keep``; returns how many went."""
    cutoff = now - keep
    pruned = 0
    while True:
        with session_factory() as db:
            ids = list(
                db.scalars(
                    select(SyncJob.id)
                    .where(SyncJob.status == JobStatus.DONE, SyncJob.updated_at < cutoff)
                    .order_by(SyncJob.id)
                    .limit(batch)
                )
            )
            if not ids:
                return pruned
            db.execute(delete(SyncAttempt).where(SyncAttempt.job_id.in_(ids)))
            # Status again: only done jobs go, whatever happened since the select (another
            # worker's sweep may have deleted some: its own entry counts those).
            result = cast(
                CursorResult[Any],
                db.execute(
                    delete(SyncJob).where(SyncJob.id.in_(ids), SyncJob.status == JobStatus.DONE)
                ),
            )
            gone = result.rowcount
            if gone:
                db.add(
                    AuditEntry(
                        user_id=None,
                        action="sync_log.prune",
                        subject=f"{gone} done sync jobs",
                        detail=(
                            f"done before {cutoff:%Y-%m-%d %H:%M} UTC (kept {keep.days} days); "
                            f"job ids {ids[0]} to {ids[-1]}"
                        ),
                    )
                )
            db.commit()
            pruned += gone
            if len(ids) < batch:
                return pruned
