"""`manage.py execute_run RUN_ID`: call the run's endpoint for every case without a response."""

from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from accounts.audit import record
from mleval_site.cli import ProgressReporter
from runs.callers import ExecutionError, ExecutionOptions, check_endpoint
from runs.execution import execute_run, forget_failures
from runs.models import ModelRun

DEFAULTS = ExecutionOptions()


class Command(BaseCommand):
    help = (
        "Execute a run: call its endpoint (http(s) URL or python:module:function) for every "
        "case of its selection that has no response yet, so running it again resumes. "
        "Infrastructure failures (connection errors, timeouts, HTTP 429 and 5xx) are retried "
        "with exponential backoff; a case that still fails is stored as failed with its error."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int, help="the run's id")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=DEFAULTS.concurrency,
            help="calls in flight at once (default: %(default)s)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULTS.timeout,
            help="seconds per call attempt (default: %(default)s)",
        )
        parser.add_argument(
            "--retries",
            type=int,
            default=DEFAULTS.retries,
            help="further attempts after an infrastructure failure (default: %(default)s)",
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="forget the run's failed responses first, so their cases are called again",
        )

    def handle(self, *args, run_id: int, **options) -> None:
        run = ModelRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No run with id {run_id}.")
        try:
            execution = ExecutionOptions(
                concurrency=options["concurrency"],
                timeout=options["timeout"],
                retries=options["retries"],
            )
        except ValueError as error:
            raise CommandError(f"--{str(error)}") from None
        progress = ProgressReporter(
            run.total_cases, stream=self.stderr._out, label="calling", unit="case"
        )
        try:
            if options["retry_failed"]:
                check_endpoint(run)  # first: a run that cannot be called keeps its failures
                forget_failures(run)
            summary = execute_run(
                run,
                execution,
                progress=lambda completed, failed, total: progress.update(
                    completed + failed, completed + failed
                ),
            )
        except ExecutionError as error:
            raise CommandError(str(error)) from None
        except DatabaseError as error:  # e.g. PostgreSQL restarted: what was stored is kept
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise CommandError(
                f"Lost the database during run {run_id} ({reason}); the responses stored so far "
                f"are kept: `execute_run {run_id}` resumes it."
            ) from None
        except KeyboardInterrupt:
            run.cancel()
            raise CommandError(
                f"Interrupted: run {run_id} is cancelled, its responses so far are kept; "
                f"`execute_run {run_id}` resumes it."
            ) from None
        finally:
            progress.close()
        record(
            None,
            "run.execute",
            run,
            via="command",
            retry_failed=options["retry_failed"],
            status=summary.status,
            **asdict(execution),
        )
        if summary.status != "completed":
            self.stderr.write(f"run {run_id} is {summary.status}")
        self.stdout.write(f"completed {summary.completed_cases}, failed {summary.failed_cases}")
