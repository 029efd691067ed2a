"""Background work of the cases app: imports started from /cases/import/.

The task runs the same `cases.importing.import_cases` as the command, for a `jobs.Job` of kind
case_import (its upload in `job.file`, its options in `job.params`). Its progress goes to the
job through a connection of its own, because the import itself holds one open transaction
until the last line: the page polls the job and shows the progress while the rows being
written stay invisible (and are rolled back if a line is bad).
"""

from django.db import transaction
from django.tasks import task

from cases.importing import import_cases
from cases.mapping import ColumnMapping
from cases.validation import ImportReport
from jobs.models import Job, JobKind
from jobs.running import ProgressWriter, finish, running


def create_import_job(
    upload,
    *,
    file_format: str,
    origin: str,
    dry_run: bool,
    user,
    on_conflict: str = "error",
    mapping: dict | None = None,
    mapping_name: str = "",
    to_map: bool = False,
) -> Job:
    """Record an uploaded file's check (dry run) or import and queue it for the worker.

    `mapping` (cases.mapping's JSON) reads a table with its own column names. `to_map`: the
    columns are to be mapped first (the mapping page), so the job is stored, not queued."""
    params = {
        "file_format": file_format,
        "origin": origin,
        "dry_run": dry_run,
        "on_conflict": on_conflict,
    }
    if mapping is not None:
        params |= {"mapping": mapping, "mapping_name": mapping_name}
    if to_map:
        params["to_map"] = True
    job = Job(kind=JobKind.CASE_IMPORT, params=params, created_by=user)
    job.store_upload(upload)
    job.total = job.file_size
    with transaction.atomic():
        job.save()
        if not to_map:
            job.enqueue(import_cases_task, job.pk)
    return job


def import_mapped(job: Job, user, *, mapping: dict, mapping_name: str, dry_run: bool) -> Job:
    """Check or import a stored file with a column mapping: the job waiting for its mapping
    itself, or a new job that takes the file over from a finished check."""
    params = {**job.params, "mapping": mapping, "mapping_name": mapping_name, "dry_run": dry_run}
    params.pop("to_map", None)
    with transaction.atomic():
        if job.params.get("to_map"):
            # one update that only a waiting job matches: a second submit queues nothing
            if not Job.objects.filter(pk=job.pk, params__to_map=True).update(params=params):
                return job
            mapped = job
        else:
            mapped = Job.objects.create(
                kind=JobKind.CASE_IMPORT,
                params=params,
                file=job.file.name,
                file_name=job.file_name,
                file_size=job.file_size,
                total=job.file_size,
                created_by=user,
            )
            Job.objects.filter(pk=job.pk).update(file="")
        mapped.enqueue(import_cases_task, mapped.pk)
    return mapped


def import_checked(checked: Job, user) -> Job:
    """After a clean dry run: import the same stored file for real (the check gives it up)."""
    with transaction.atomic():
        job = Job.objects.create(
            kind=JobKind.CASE_IMPORT,
            params={**checked.params, "dry_run": False},
            file=checked.file.name,
            file_name=checked.file_name,
            file_size=checked.file_size,
            total=checked.file_size,
            created_by=user,
        )
        Job.objects.filter(pk=checked.pk).update(file="")
        job.enqueue(import_cases_task, job.pk)
    return job


def import_outcome(job: Job) -> tuple[str, str]:
    """(label, badge class) of an import job on the pages. The job "succeeds" whenever the file
    was read to the end, so its state alone would call a refused import done."""
    if job.params.get("to_map"):
        return "Columns to map", "warn"
    if not job.is_finished:
        return job.get_state_display(), "warn"
    if job.state != Job.State.SUCCEEDED:
        return job.get_state_display(), "bad"
    errors = (job.result or {}).get("error_count")
    dry_run = job.params.get("dry_run", True)
    if errors:
        return ("Errors found" if dry_run else "Refused"), "bad"
    return ("Clean" if dry_run else "Imported"), "ok"


def import_is_clean(job: Job) -> bool:
    """The import ran to the end and found no error (a check that may become an import)."""
    return job.state == Job.State.SUCCEEDED and not (job.result or {}).get("error_count")


@task()
def import_cases_task(job_id: int) -> dict:
    """Run (or dry-run) the import of one uploaded file and store the outcome on its job."""
    with running(job_id) as job:
        if job is None:
            return {"skipped": "the job was deleted"}
        progress = ProgressWriter(job_id, own_connection=True)
        try:
            progress.update(0, force=True, rows=0)
            mapping = job.params.get("mapping")
            mapping = None if mapping is None else ColumnMapping.from_json(mapping)
            with job.file.open("rb") as source:
                report = import_cases(
                    source,
                    file_format=job.params["file_format"],
                    origin=job.params.get("origin", ""),
                    user_id=job.created_by_id,
                    dry_run=job.params.get("dry_run", True),
                    on_conflict=job.params.get("on_conflict", "error"),
                    on_progress=lambda rows, done: progress.update(done, rows=rows),
                    mapping=mapping,
                )
        except Exception as error:
            finish(job_id, state=Job.State.FAILED, error=f"The import could not run: {error}")
            raise
        finally:
            progress.close()
        record_report(job, report)
        if not job.params.get("dry_run", True):  # the file has done its work; a dry run
            job.file.delete(save=False)  # keeps it for the real import
            Job.objects.filter(pk=job_id).update(file="")
    return {"job": job_id, "summary": report.summary()}


def record_report(job: Job, report: ImportReport) -> None:
    """Store what the import found on the job: counts, the first errors, the preview."""
    finish(
        job.pk,
        result={
            "rows": report.rows,
            "imported": report.imported,
            "updated": report.updated,
            "skipped": report.skipped,
            "error_count": report.error_count,
            "errors": [error.as_dict() for error in report.errors],
            "preview": report.preview,
            "counts": {**report.counts, "valid": report.valid, "rows": report.rows},
        },
        message=report.summary(),
        done=report.bytes_read,
        counters={"rows": report.rows},
    )
