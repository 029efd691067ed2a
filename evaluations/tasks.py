"""Scoring in the background, shared by several ``db_worker`` processes.

:func:`enqueue_evaluation` (the run page's button, the API) validates the evaluators, records a
``jobs.Job`` of kind evaluation on the run and enqueues :func:`start_evaluation`, which splits
the run's responses into id ranges (the job's parts) and enqueues one
:func:`evaluate_chunk_task` per range. Any worker takes any chunk; each chunk counts itself
done on the job in the same transaction that writes its verdicts, and the last one marks the
job succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Value
from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.audit import record
from evaluations.judging.stage import judge_chunk
from evaluations.pipeline import (
    DEFAULT_CHUNK_SIZE,
    PlannedEvaluator,
    SpecLike,
    chunk_bounds,
    evaluate_chunk,
    resolve_evaluators,
    verdict_tables,
)
from jobs.models import Job, JobKind, JobState, JsonbAdd
from jobs.signals import wrote
from runs.models import ModelRun
from runs.trials import trial_runs


def enqueue_evaluation(
    run: ModelRun,
    specs: Iterable[SpecLike] | None = None,
    user: Any = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Job:
    """Queue the scoring of ``run`` and return its job (``job.task_id`` is what a client polls).

    ``specs`` as for :func:`evaluations.pipeline.resolve_evaluators` (None: the run config's
    evaluators, else the defaults per output type). Raises EvaluatorConfigError, naming the
    evaluator or parameter at fault, before anything is queued. The job's ``params`` hold the
    resolved evaluators ([{"name", "params", "output_types"}]) and the chunk size. A run of a
    trial group queues one job per trial; this returns the run's.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    members = trial_runs(run)  # a run of a trial group: every trial is scored (runs.trials)
    planned = {member.pk: resolve_evaluators(member, specs) for member in members}
    with transaction.atomic():
        jobs = {
            member.pk: _queue(member, planned[member.pk], user, chunk_size) for member in members
        }
    return jobs[run.pk]


def _queue(run: ModelRun, evaluators: list[PlannedEvaluator], user: Any, chunk_size: int) -> Job:
    job = Job.objects.create(
        kind=JobKind.EVALUATION,
        target=run,
        params={
            "evaluators": [evaluator.as_json() for evaluator in evaluators],
            "chunk_size": chunk_size,
        },
        counters={"evaluations_written": 0},
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    job.enqueue(start_evaluation, job.pk)
    names = [evaluator.name for evaluator in evaluators]
    record(user, "run.evaluate", run, job=job.pk, task_id=job.task_id, evaluators=names)
    return job


@task()
def start_evaluation(job_id: int) -> dict[str, int]:
    """Split the job's run into chunks and enqueue one task per chunk (atomically with the
    job's totals, so no chunk can finish before the job knows how many there are)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:  # the run (and so its job) was deleted meanwhile
        return {"chunks": 0}
    try:
        bounds = chunk_bounds(job.target_id, job.params["chunk_size"])
        with transaction.atomic():
            Job.objects.filter(pk=job_id).start_parts(
                len(bounds), total=sum(count for *_, count in bounds)
            )
            for first, last, _count in bounds:
                evaluate_chunk_task.enqueue(job_id, first, last)
            if bounds:
                schedule_watch(job_id)
    except Exception as exc:
        Job.objects.filter(pk=job_id).fail(exc)
        raise
    return {"chunks": len(bounds)}


@task()
def evaluate_chunk_task(job_id: int, first_id: int, last_id: int) -> dict[str, int]:
    """Score the responses of the job's run with ids in [first_id, last_id]."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state == JobState.FAILED:
        return {"responses": 0, "evaluations": 0, "skipped": 1}
    lock = _lock_key(job_id, first_id)
    with connection.cursor() as cursor:  # the watchdog's sign that this chunk's worker lives
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock])
    try:
        evaluators = [PlannedEvaluator.from_json(data) for data in job.params["evaluators"]]
        judged = judge_chunk(
            job.target_id, evaluators, (first_id, last_id), _judge_progress(job_id)
        )
        with transaction.atomic():
            result = evaluate_chunk(job.target_id, evaluators, (first_id, last_id), judged)
            Job.objects.filter(pk=job_id).record_part(
                result.responses, evaluations_written=result.evaluations
            )
    except Exception as exc:
        Job.objects.filter(pk=job_id).fail(exc)
        raise
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
    finished = Job.objects.filter(pk=job_id, state=JobState.SUCCEEDED).first()
    if finished is not None:  # the last part: the run's verdicts are all written
        written = finished.counters.get("evaluations_written", 0)
        wrote(verdict_tables(written), [finished.target_id], sender=evaluate_chunk_task)
    return {"responses": result.responses, "evaluations": result.evaluations}


def _judge_progress(job_id: int):
    """Adds the judge calls made and read from the cache to the job's counters as they go."""

    def add(asked: int, cached: int) -> None:
        if asked or cached:
            counters = JsonbAdd(F("counters"), Value("judge_calls"), Value(asked))
            counters = JsonbAdd(counters, Value("judge_cached"), Value(cached))
            Job.objects.filter(pk=job_id).update(counters=counters)

    return add


def _lock_key(job_id: int, first_id: int) -> int:
    """A chunk's advisory lock, held by the task scoring it (one bigint: a key space apart
    from the int pairs of jobs.running)."""
    return ((job_id & 0x7FFFFFFF) << 32) | (first_id & 0xFFFFFFFF)


def schedule_watch(job_id: int) -> None:
    delay = timedelta(seconds=settings.MLEVAL_RUN_WATCHDOG_SECONDS)
    watch_evaluation_task.using(run_after=timezone.now() + delay).enqueue(job_id)


LOST = (
    "The worker scoring this chunk stopped without finishing it (killed or lost); "
    "the chunk is scored again in task {task}."
)


@task()
def watch_evaluation_task(job_id: int) -> str:
    """Re-queue the job's chunks whose worker died, while the job runs; see the module doc."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return "finished"
    grace = timezone.now() - timedelta(seconds=settings.MLEVAL_RUN_WATCHDOG_SECONDS)
    running = DBTaskResult.objects.filter(
        task_path=evaluate_chunk_task.module_path,
        status="RUNNING",
        started_at__lt=grace,
        args_kwargs__args__0=job_id,
    )
    requeued = 0
    for lost in running:
        _, first, last = lost.args_kwargs["args"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(job_id, first)])
            if not cursor.fetchone()[0]:
                continue  # its worker is alive and holds the lock
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(job_id, first)])
        with transaction.atomic():
            again = evaluate_chunk_task.enqueue(job_id, first, last)
            lost.status = "FAILED"
            lost.finished_at = timezone.now()
            lost.exception_class_path = "evaluations.tasks.WorkerLost"
            lost.traceback = LOST.format(task=again.id)
            lost.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
        requeued += 1
    schedule_watch(job_id)
    return f"re-queued {requeued} chunks" if requeued else "alive"
