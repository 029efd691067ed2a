"""Background work of the cases app: imports started from /cases/import/.

The task runs the same `cases.importing.import_cases` as the command. Its progress goes to the
ImportJob row through a connection of its own, because the import itself holds one open
transaction until the last line: the page polls that row and shows the progress while the
rows being written stay invisible (and are rolled back if a line is bad).
"""

import logging
import time

from django.db import connections
from django.tasks import task
from django.utils import timezone

from cases.importing import ImportReport, import_cases
from cases.models import ImportJob, ImportStatus

logger = logging.getLogger("mleval.cases")
PROGRESS_EVERY_SECONDS = 0.5


class JobProgress:
    """Writes rows/bytes read to the job row, at most twice a second, outside the import's
    transaction."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.connection = connections.create_connection("default")
        self.last = 0.0

    def update(self, rows: int, bytes_read: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportJob._meta.db_table} SET rows_read = %s, bytes_read = %s, "
                "status = %s WHERE id = %s",
                [rows, bytes_read, ImportStatus.RUNNING, self.job_id],
            )

    def close(self) -> None:
        self.connection.close()


@task()
def import_cases_task(job_id: int) -> dict:
    """Run (or dry-run) the import of one uploaded file and store the outcome on its ImportJob."""
    job = ImportJob.objects.get(pk=job_id)
    progress = JobProgress(job_id)
    progress.update(0, 0, force=True)
    try:
        with job.file.open("rb") as source:
            report = import_cases(
                source,
                file_format=job.file_format,
                origin=job.origin,
                user_id=job.created_by_id,
                dry_run=job.dry_run,
                on_progress=progress.update,
            )
    except Exception as error:
        logger.exception("import job %s failed", job_id)
        job.status, job.message = ImportStatus.FAILED, f"The import could not run: {error}"
        job.finished_at = timezone.now()
        job.save()
        raise
    finally:
        progress.close()
    record_report(job, report)
    if not job.dry_run:  # the file has done its work; a dry run keeps it for the real import
        job.file.delete(save=True)
    return {"job": job.pk, "summary": report.summary()}


def record_report(job: ImportJob, report: ImportReport) -> None:
    """Store what the import found on the job: counts, the first errors, the preview."""
    job.status = ImportStatus.DONE
    job.rows_read = report.rows
    job.bytes_read = report.bytes_read
    job.imported = report.imported
    job.error_count = report.error_count
    job.errors = [error.as_dict() for error in report.errors]
    job.preview = report.preview
    job.counts = {**report.counts, "valid": report.valid, "rows": report.rows}
    job.message = report.summary()
    job.finished_at = timezone.now()
    job.save()
