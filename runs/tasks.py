"""Background work for runs (django.tasks on the django-tasks-db backend; `manage.py db_worker`).

- `execute_run_task`: executes a run (runs/execution.py). Several can work on one run at once.
- `watch_run_task`: while a run is executing, re-checks every MLEVAL_RUN_WATCHDOG_SECONDS that an
  executor is still alive on it. A worker killed mid-run (SIGKILL, lost machine) leaves its task
  marked running forever and its run running; the watchdog, still queued, is picked up by the
  next worker to start, marks the dead task failed and queues a new execution, which resumes.
- `import_responses_task`: a big upload from the run page, ingested by the worker.

`enqueue_execution` / `enqueue_import` are what the page, the API and commands call; they record
the task in RunTask so the run page shows its state.
"""

import os
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.audit import record
from runs.execution import ExecutionOptions, check_endpoint, execute_run, executor_alive
from runs.ingestion import IngestError, ingest_responses
from runs.models import ModelRun, RunStatus, RunTask

WORKER_LOST = "runs.tasks.WorkerLost"
DEFAULTS = ExecutionOptions()


@task()
def execute_run_task(run_id: int, options: dict) -> dict:
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"skipped": "the run was deleted"}
    schedule_watch(run_id)
    summary = execute_run(run, ExecutionOptions(**options), resume_finished=False)
    return asdict(summary)


@task()
def watch_run_task(run_id: int) -> str:
    """Resume a run whose executor died; see the module docstring."""
    try:
        return _watch(run_id)
    except Exception:
        schedule_watch(run_id)  # an unexpected error must not end the watch while it matters
        raise


def _watch(run_id: int) -> str:
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None or not run.is_active:
        return "finished"
    if executor_alive(run_id):
        schedule_watch(run_id)
        return "alive"
    grace = timezone.now() - timedelta(seconds=settings.MLEVAL_RUN_WATCHDOG_SECONDS)
    task_ids = list(
        RunTask.objects.filter(run=run, kind=RunTask.Kind.EXECUTE).values_list("task_id", flat=True)
    )
    results = list(DBTaskResult.objects.filter(id__in=task_ids, status__in=["READY", "RUNNING"]))
    waiting = [r for r in results if r.status == "READY" or r.started_at > grace]
    if waiting:  # queued, or only just started (its executor is taking its locks)
        schedule_watch(run_id)
        return "waiting"
    dead = [r for r in results if r.status == "RUNNING"]
    if run.status != RunStatus.RUNNING and not dead:
        return "idle"
    options = dead[-1].args_kwargs["args"][1] if dead else {}
    with transaction.atomic():
        result = enqueue_execution(run, ExecutionOptions(**options), check=False)
        for lost in dead:
            lost.status = "FAILED"
            lost.finished_at = timezone.now()
            lost.exception_class_path = WORKER_LOST
            lost.traceback = (
                "The worker running this task stopped without finishing it (killed or lost). "
                f"Execution resumes in task {result.id}."
            )
            lost.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
    return f"resumed in task {result.id}"


@task()
def import_responses_task(
    run_id: int, path: str, replace: bool = True, user_id: int | None = None
) -> dict:
    """Ingest an uploaded JSONL file; bad lines are reported in the result, nothing written.

    `user_id`: who uploaded it, for the audit trail."""
    try:
        run = ModelRun.objects.filter(pk=run_id).first()
        if run is None:
            return {"skipped": "the run was deleted"}
        with open(path, "rb") as lines:
            result = ingest_responses(run, lines, replace=replace, actor=user_id)
        return asdict(result)
    except IngestError as error:
        return {"errors": error.errors, "more": error.more}
    finally:
        if os.path.exists(path):
            os.remove(path)


def schedule_watch(run_id: int) -> None:
    delay = timedelta(seconds=settings.MLEVAL_RUN_WATCHDOG_SECONDS)
    watch_run_task.using(run_after=timezone.now() + delay).enqueue(run_id)


def enqueue_execution(
    run: ModelRun, options: ExecutionOptions | None = None, *, user=None, check: bool = True
):
    """Queue the run's execution for a worker (status back to pending unless it is running).

    Raises ExecutionError first when the run cannot be executed at all.
    """
    if check:
        check_endpoint(run)
    with transaction.atomic():
        ModelRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING).update(
            status=RunStatus.PENDING, completed_at=None
        )
        result = execute_run_task.enqueue(run.pk, asdict(options or DEFAULTS))
        RunTask.objects.create(
            run=run, kind=RunTask.Kind.EXECUTE, task_id=str(result.id), created_by=user
        )
        record(user, "run.execute", run, task_id=str(result.id), **asdict(options or DEFAULTS))
    return result


def enqueue_import(run: ModelRun, path: str, *, replace: bool = True, user=None):
    """Queue the ingestion of a JSONL file the worker can read (it deletes the file after)."""
    with transaction.atomic():
        user_id = user.pk if getattr(user, "is_authenticated", False) else None
        result = import_responses_task.enqueue(run.pk, str(path), replace, user_id)
        RunTask.objects.create(
            run=run, kind=RunTask.Kind.IMPORT, task_id=str(result.id), created_by=user
        )
    return result


def task_states(tasks: list[RunTask]) -> list[dict]:
    """The run page's view of its tasks: kind, status, times, outcome (one query)."""
    results = {
        str(result.pk): result
        for result in DBTaskResult.objects.filter(pk__in=[t.task_id for t in tasks])
    }
    states = []
    for run_task in tasks:
        result = results.get(run_task.task_id)
        state = {"task": run_task, "status": "UNKNOWN", "result": None, "error": ""}
        if result is not None:
            state.update(
                status=result.status,
                started_at=result.started_at,
                finished_at=result.finished_at,
                result=result.return_value,
                error=(result.traceback or "").strip().splitlines()[-1:] or [""],
            )
            state["error"] = state["error"][0]
        states.append(state)
    return states
