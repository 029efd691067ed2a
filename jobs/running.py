"""The worker's side of a job: mark it running, report progress, finish or fail it.

`running(job_id)` wraps a task's work. While it runs, the task holds a session advisory lock
keyed by the job, so a reader can tell a live job from one whose worker died (SIGKILL, a lost
machine): PostgreSQL drops a dead connection's locks, and `reap_if_lost` then marks the job
failed instead of leaving it "running" forever. (Scoring's parts run as separate tasks and
are not reaped this way; a chunk that raises fails its job itself.)

`ProgressWriter` writes progress through a connection of its own when asked: a case import
holds one transaction open until its last line, and the page must see the progress meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import connection, connections
from django.db.models.functions import Now

from jobs.models import ERROR_LIMIT, Job, JobState

logger = logging.getLogger("mleval.jobs")
JOB_LOCKS = 0x4A4F  # advisory-lock namespace of running jobs ("JO")
PROGRESS_EVERY_SECONDS = 0.5
# A job marked running this long ago without a worker holding its lock is lost.
LOST_AFTER_SECONDS = 5


def _lock_key(job_id: int) -> int:
    return job_id & 0x7FFFFFFF


@contextlib.contextmanager
def running(job_id: int) -> Iterator[Job | None]:
    """Run a job's work: running (with its lock) inside, succeeded after, failed on an error
    (re-raised, so the task's own result says so too). The body may finish the job itself
    (`finish`), e.g. as cancelled. Yields None when the job was deleted meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCKS, _lock_key(job_id)])
    try:
        updated = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
            state=JobState.RUNNING, started_at=Now()
        )
        job = Job.objects.filter(pk=job_id).first()
        if job is None or (not updated and job.is_finished):
            yield None  # deleted, or finished already (cancelled before a worker got to it)
            return
        try:
            yield job
        except BaseException as error:
            logger.exception("job %s failed", job_id)
            Job.objects.filter(pk=job_id).fail(error)
            raise
        Job.objects.filter(pk=job_id).unfinished().update(
            state=JobState.SUCCEEDED, finished_at=Now()
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCKS, _lock_key(job_id)])


def finish(
    job_id: int,
    *,
    state: str = JobState.SUCCEEDED,
    result: Any = None,
    message: str = "",
    error: str = "",
    **fields: Any,
) -> None:
    """Store a job's outcome (`result`: JSON) and end it."""
    Job.objects.filter(pk=job_id).update(
        state=state,
        result=result,
        message=message,
        error=error[:ERROR_LIMIT],
        finished_at=Now(),
        **fields,
    )


def reap_if_lost(job: Job) -> bool:
    """Fail a single-task job marked running whose worker no longer holds its lock (died);
    True when it did. One cheap query, and only for a job that says it is running."""
    if job.state != JobState.RUNNING or job.parts_total or job.started_at is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT now() - %s > make_interval(secs => %s) AND pg_try_advisory_lock(%s, %s)",
            [job.started_at, LOST_AFTER_SECONDS, JOB_LOCKS, _lock_key(job.pk)],
        )
        if not cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCKS, _lock_key(job.pk)])
    error = "The worker running this job stopped without finishing it (killed or lost)."
    if Job.objects.filter(pk=job.pk, state=JobState.RUNNING).fail(error):
        job.refresh_from_db()
        return True
    return False


class ProgressWriter:
    """Writes a job's progress at most twice a second: `done` (and `total`), plus counters.

    `own_connection=True` writes outside the caller's transaction (a case import's rows stay
    uncommitted until its last line, its progress must not wait for them)."""

    def __init__(self, job_id: int, *, own_connection: bool = False) -> None:
        self.job_id = job_id
        self.connection = connections.create_connection("default") if own_connection else connection
        self.own = own_connection
        self.last = 0.0

    def update(
        self, done: int, total: int | None = None, *, force: bool = False, **counters: int
    ) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        sets, params = ["done = %s"], [done]
        if total is not None:
            sets.append("total = %s")
            params.append(total)
        for name, value in counters.items():
            sets.append("counters = counters || jsonb_build_object(%s::text, %s::bigint)")
            params.extend([name, value])
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Job._meta.db_table} SET {', '.join(sets)} WHERE id = %s",
                [*params, self.job_id],
            )

    def close(self) -> None:
        if self.own:
            self.connection.close()
