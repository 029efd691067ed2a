"""The one place that turns a background job (or a bare django.tasks task) into its status:
the API's `tasks/<id>/`, the progress partial and the run page all read this."""

from __future__ import annotations

import uuid
from typing import Any

from django_tasks_db.models import DBTaskResult

from jobs.models import Job, JobState
from jobs.running import reap_if_lost

# The API's vocabulary (v1): a job that succeeded is "completed" there.
API_STATUS = {JobState.SUCCEEDED: "completed"}
# django.tasks statuses, for a task that has no job (e.g. a run's watchdog).
TASK_STATUS = {"READY": "queued", "RUNNING": "running", "SUCCESSFUL": "completed"}
TASK_STATUS["FAILED"] = "failed"
# The API names a job's target by its model: {"run": <id>} for a run.
TARGET_KEYS = {("runs", "modelrun"): "run"}


def _error_line(result: DBTaskResult | None) -> str | None:
    if result is None or result.status != "FAILED":
        return None
    lines = (result.traceback or "").strip().splitlines()
    return lines[-1] if lines else None


def job_status(job: Job | None, task: DBTaskResult | None = None) -> dict[str, Any]:
    """{"id", "job_id", "kind", "status", "run", "enqueued_at", "started_at", "finished_at",
    "progress": {"done", "total"} | None, "result", "error"} of a job, or of a task that has
    none (`kind` "other"). A running job whose worker died is failed here, on the way."""
    if job is None:
        if task is None:
            raise ValueError("job_status needs a job or a task")
        return {
            "id": str(task.pk),
            "job_id": None,
            "kind": "other",
            "status": TASK_STATUS.get(task.status, "queued"),
            "run": None,
            "enqueued_at": task.enqueued_at,
            "started_at": task.started_at,
            "finished_at": task.finished_at,
            "progress": None,
            "result": None,
            "error": _error_line(task),
        }
    reap_if_lost(job)
    target = None
    if job.target_type_id is not None:
        target_type = job.target_type
        target = TARGET_KEYS.get((target_type.app_label, target_type.model))
    succeeded = job.state == JobState.SUCCEEDED
    return {
        "id": job.task_id or None,
        "job_id": job.pk,
        "kind": job.kind,
        "status": API_STATUS.get(job.state, job.state),
        "run": job.target_id if target == "run" else None,
        "enqueued_at": task.enqueued_at if task is not None else job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"done": job.done, "total": job.total},
        # A failed job may have a result too: a refused import's errors.
        "result": job.result
        if job.result is not None
        else ({"job_id": job.pk, **job.counters} if succeeded else None),
        "error": job.error or _error_line(task) or None,
    }


def task_status(task_id: str) -> dict[str, Any] | None:
    """The status of a django.tasks task id: its job's, else the bare task's; None when
    neither exists."""
    job = Job.objects.select_related("target_type").filter(task_id=task_id).first()
    task = DBTaskResult.objects.filter(pk=task_id).first() if _is_uuid(task_id) else None
    if job is None and task is None:
        return None
    return job_status(job, task)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
