"""Background work for runs (django.tasks on the django-tasks-db backend; `manage.py db_worker`).

- `execute_run_task`: executes a run (runs/execution.py). Several can work on one run at once.
- `watch_run_task`: while a run is executing, re-checks every MLEVAL_RUN_WATCHDOG_SECONDS that an
  executor is still alive on it. A worker killed mid-run (SIGKILL, lost machine) leaves its task
  marked running forever and its run running; the watchdog, still queued, is picked up by the
  next worker to start, marks the dead task failed and queues a new execution, which resumes.
- `import_responses_task`: a big upload from the run page, ingested by the worker.

`enqueue_execution` / `enqueue_import` are what the page, the API and commands call; each
records a `jobs.Job` on the run, whose state and progress the run page and the API show.
"""

from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.audit import record
from jobs.models import Job, JobKind, JobState
from jobs.running import ProgressWriter, finish, running
from jobs.signals import wrote
from runs.callers import ExecutionOptions, check_endpoint
from runs.execution import execute_run, forget_failures
from runs.ingestion import ingest_responses
from runs.models import ModelRun, RunStatus
from runs.response_lines import IngestError
from runs.run_locks import executor_alive
from runs.trials import trial_runs

WORKER_LOST = "runs.tasks.WorkerLost"
DEFAULTS = ExecutionOptions()


@task(takes_context=True)
def execute_run_task(context, run_id: int, options: dict) -> dict:
    """Execute the run for its job (the job whose task this is: found by the task's id)."""
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"skipped": "the run was deleted"}
    schedule_watch(run_id)
    job_id = (
        Job.objects.filter(task_id=str(context.task_result.id)).values_list("pk", flat=True).first()
    )
    if job_id is None:  # its job was deleted
        return asdict(execute_run(run, ExecutionOptions(**options), resume_finished=False))
    with running(job_id) as job:
        if job is None:
            return {"skipped": "the job was deleted or cancelled"}
        progress = ProgressWriter(job_id)
        summary = execute_run(
            run,
            ExecutionOptions(**options),
            resume_finished=False,
            progress=lambda completed, failed, total: progress.update(completed + failed, total),
        )
        # A run whose every call failed is a failed execution, not a "succeeded" task.
        message = (
            f"{summary.called} cases called: {summary.completed_cases} succeeded, "
            f"{summary.failed_cases} failed; run {summary.status}"
        )
        finish(
            job_id,
            state={RunStatus.CANCELLED: JobState.CANCELLED, RunStatus.FAILED: JobState.FAILED}.get(
                summary.status, JobState.SUCCEEDED
            ),
            result=asdict(summary),
            message=message,
            error=message if summary.status == RunStatus.FAILED else "",
            done=summary.completed_cases + summary.failed_cases,
            total=summary.total_cases,
        )
    wrote({"responses": summary.called}, [run_id], sender=execute_run_task)
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
        Job.objects.for_target(run).filter(kind=JobKind.EXECUTION).values_list("task_id", flat=True)
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
        result = enqueue_execution(run, ExecutionOptions(**options), check=False, trials=False)
        for lost in dead:
            lost.status = "FAILED"
            lost.finished_at = timezone.now()
            lost.exception_class_path = WORKER_LOST
            lost.traceback = (
                "The worker running this task stopped without finishing it (killed or lost). "
                f"Execution resumes in task {result.id}."
            )
            lost.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
            Job.objects.filter(task_id=str(lost.pk)).fail(lost.traceback)
    return f"resumed in task {result.id}"


@task()
def import_responses_task(job_id: int) -> dict:
    """Ingest an uploaded JSONL file (the job's); bad lines are reported in the job's result,
    nothing written. The job's creator is the uploader, for the audit trail."""
    with running(job_id) as job:
        if job is None:
            return {"skipped": "the job was deleted"}
        try:
            run = ModelRun.objects.filter(pk=job.target_id).first()
            if run is None:
                return {"skipped": "the run was deleted"}
            with job.file.open("rb") as lines:
                outcome = asdict(
                    ingest_responses(
                        run, lines, replace=job.params["replace"], actor=job.created_by_id
                    )
                )
            message = f"imported {outcome['imported']} responses"
            state = Job.State.SUCCEEDED
        except IngestError as error:
            outcome, message = refused_import(error)
            state = Job.State.FAILED
        finally:
            job.file.delete(save=False)
            Job.objects.filter(pk=job_id).update(file="")
        failed = state == Job.State.FAILED
        finish(job_id, state=state, result=outcome, message=message, error=message * failed)
    return outcome


def refused_import(error: IngestError) -> tuple[dict, str]:
    """A refused response import as a job's result ({"errors", "more"}) and message."""
    count = f"{len(error.errors)}{'+' if error.more else ''}"
    plural = "" if count == "1" else "s"
    return {"errors": error.errors, "more": error.more}, f"nothing imported: {count} error{plural}"


def record_refused_import(run: ModelRun, error: IngestError, *, upload, replace: bool, user) -> Job:
    """A file the page imported at once and refused, kept as a failed import job of the run so
    the run page lists its errors (as for a file the worker refused) and offers them as CSV."""
    outcome, message = refused_import(error)
    job = Job.objects.create(
        kind=JobKind.IMPORT,
        target=run,
        params={"replace": replace},
        created_by=_user(user),
        file_name=(getattr(upload, "name", "") or "")[:255],
    )
    finish(job.pk, state=Job.State.FAILED, result=outcome, message=message, error=message)
    job.refresh_from_db()
    return job


def schedule_watch(run_id: int) -> None:
    delay = timedelta(seconds=settings.MLEVAL_RUN_WATCHDOG_SECONDS)
    watch_run_task.using(run_after=timezone.now() + delay).enqueue(run_id)


def enqueue_execution(
    run: ModelRun,
    options: ExecutionOptions | None = None,
    *,
    user=None,
    check: bool = True,
    retry_failed: bool = False,
    trials: bool = True,
):
    """Queue the run's execution for a worker (status back to pending unless it is running).

    Raises ExecutionError first when the run cannot be executed at all, before anything
    changes. `retry_failed` forgets the failed responses in the same transaction as the
    enqueue, so they are never lost without their cases being called again. A run of a trial
    group (runs.trials) queues every trial of the group (`trials=False`: this run only); the
    result is this run's task.
    """
    if check:
        check_endpoint(run)
    options = asdict(options or DEFAULTS)
    members = trial_runs(run) if trials else [run]
    with transaction.atomic():
        results = {
            member.pk: _enqueue_one(member, options, user, retry_failed) for member in members
        }
    return results.get(run.pk) or next(iter(results.values()))


def _enqueue_one(run: ModelRun, options: dict, user, retry_failed: bool):
    if retry_failed:
        forget_failures(run)
    ModelRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING).update(
        status=RunStatus.PENDING, completed_at=None
    )
    job = Job.objects.create(
        kind=JobKind.EXECUTION,
        target=run,
        params=options,
        total=run.total_cases,
        created_by=_user(user),
    )
    result = job.enqueue(execute_run_task, run.pk, options)
    record(user, "run.execute", run, task_id=str(result.id), **options)
    return result


def enqueue_import(run: ModelRun, upload, *, replace: bool = True, user=None):
    """Store an uploaded JSONL file on a job of the run and queue its ingestion (the worker
    deletes the file after)."""
    job = Job(kind=JobKind.IMPORT, target=run, params={"replace": replace}, created_by=_user(user))
    job.store_upload(upload)
    with transaction.atomic():
        job.save()
        return job.enqueue(import_responses_task, job.pk)


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None
