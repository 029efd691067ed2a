"""Scoring in the background, shared by several ``db_worker`` processes.

:func:`enqueue_evaluation` (the run page's button, the API) validates the evaluators, records an
:class:`~evaluations.models.EvaluationJob` and enqueues :func:`start_evaluation`, which splits
the run's responses into id ranges and enqueues one :func:`evaluate_chunk_task` per range. Any
worker takes any chunk; each chunk counts itself done on the job in the same transaction that
writes its verdicts, and the last one marks the job completed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Now
from django.tasks import task

from accounts.audit import record
from evaluations.models import EvaluationJob, EvaluationJobStatus
from evaluations.pipeline import (
    DEFAULT_CHUNK_SIZE,
    ChunkResult,
    PlannedEvaluator,
    SpecLike,
    chunk_bounds,
    evaluate_chunk,
    resolve_evaluators,
)
from runs.models import ModelRun

# The longest error text kept on a job (a traceback's last line is what a user needs).
ERROR_LIMIT = 2000


def enqueue_evaluation(
    run: ModelRun,
    specs: Iterable[SpecLike] | None = None,
    user: Any = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> EvaluationJob:
    """Queue the scoring of ``run`` and return its job (``job.pk`` is what a client polls).

    ``specs`` as for :func:`evaluations.pipeline.resolve_evaluators` (None: the run config's
    evaluators, else the defaults per output type). Raises EvaluatorConfigError, naming the
    evaluator or parameter at fault, before anything is queued.
    """
    evaluators = resolve_evaluators(run, specs)
    with transaction.atomic():
        job = EvaluationJob.objects.create(
            run=run,
            evaluators=[evaluator.as_json() for evaluator in evaluators],
            chunk_size=chunk_size,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        job.task_id = str(start_evaluation.enqueue(job.pk).id)
        job.save(update_fields=["task_id"])
        names = [evaluator.name for evaluator in evaluators]
        record(user, "run.evaluate", run, job=job.pk, task_id=job.task_id, evaluators=names)
    return job


def _fail(job_id: int, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    EvaluationJob.objects.filter(pk=job_id).update(
        status=EvaluationJobStatus.FAILED, error=message, finished_at=Now()
    )


@task()
def start_evaluation(job_id: int) -> dict[str, int]:
    """Split the job's run into chunks and enqueue one task per chunk (atomically with the
    job's totals, so no chunk can finish before the job knows how many there are)."""
    job = EvaluationJob.objects.filter(pk=job_id).first()
    if job is None:  # the run (and so its job) was deleted before a worker got here
        return {"chunks": 0}
    try:
        bounds = chunk_bounds(job.run_id, job.chunk_size)
        with transaction.atomic():
            EvaluationJob.objects.filter(pk=job_id).update(
                status=EvaluationJobStatus.RUNNING if bounds else EvaluationJobStatus.COMPLETED,
                chunks_total=len(bounds),
                responses_total=sum(count for *_, count in bounds),
                started_at=Now(),
                finished_at=None if bounds else Now(),
            )
            for first, last, _count in bounds:
                evaluate_chunk_task.enqueue(job_id, first, last)
    except Exception as exc:
        _fail(job_id, exc)
        raise
    return {"chunks": len(bounds)}


def _record_chunk(job_id: int, result: ChunkResult) -> None:
    """Count a chunk done; the last one completes the job (one UPDATE, so two workers
    finishing together cannot both miss it)."""
    last = Q(chunks_done__gte=F("chunks_total") - 1) & ~Q(status=EvaluationJobStatus.FAILED)
    EvaluationJob.objects.filter(pk=job_id).update(
        chunks_done=F("chunks_done") + 1,
        responses_done=F("responses_done") + result.responses,
        evaluations_written=F("evaluations_written") + result.evaluations,
        status=Case(When(last, then=Value(EvaluationJobStatus.COMPLETED)), default=F("status")),
        finished_at=Case(When(last, then=Now()), default=F("finished_at")),
    )


@task()
def evaluate_chunk_task(job_id: int, first_id: int, last_id: int) -> dict[str, int]:
    """Score the responses of the job's run with ids in [first_id, last_id]."""
    job = EvaluationJob.objects.filter(pk=job_id).first()
    if job is None or job.status == EvaluationJobStatus.FAILED:
        return {"responses": 0, "evaluations": 0, "skipped": 1}
    try:
        evaluators = [PlannedEvaluator.from_json(data) for data in job.evaluators]
        with transaction.atomic():
            result = evaluate_chunk(job.run_id, evaluators, (first_id, last_id))
            _record_chunk(job_id, result)
    except Exception as exc:
        _fail(job_id, exc)
        raise
    return {"responses": result.responses, "evaluations": result.evaluations}
