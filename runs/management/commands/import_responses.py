"""`manage.py import_responses RUN_ID PATH`: the run page's upload, from a terminal."""

from collections.abc import Iterator
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError

from mleval_site.cli import ProgressReporter, open_input
from runs.ingestion import ingest_responses
from runs.models import ModelRun
from runs.response_lines import IngestError

MAX_PRINTED_ERRORS = 20


def _counted(stream: BinaryIO, progress: ProgressReporter) -> Iterator[bytes]:
    done = rows = 0
    for rows, line in enumerate(stream, start=1):  # noqa: B007 - rows is read after the loop
        done += len(line)
        if rows % 20_000 == 0:
            progress.update(rows, done)
        yield line
    progress.update(rows, done)


class Command(BaseCommand):
    help = (
        "Import a run's responses from a JSONL file (or - for stdin), all or nothing: one "
        '{"test_case_id": 17, "output_data": {...}, "latency_ms": 12, "memory_mb": 80.5, '
        '"tokens_used": 31, "error_message": null} per line. A case already answered is '
        "replaced. A case outside the run's selection, a case given twice or a bad value is "
        "reported with its line number, and then nothing is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int, help="the run's id")
        parser.add_argument("path", help="the JSONL file, or - to read standard input")
        parser.add_argument(
            "--keep-existing",
            action="store_true",
            help="keep responses the run already has instead of replacing them",
        )

    def handle(self, *args, run_id: int, path: str, keep_existing: bool, **options) -> None:
        run = ModelRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No run with id {run_id}.")
        with open_input(path) as (stream, size):
            progress = ProgressReporter(size, stream=self.stderr._out, label="importing")
            try:
                result = ingest_responses(
                    run, _counted(stream, progress), replace=not keep_existing
                )
            except IngestError as error:
                for item in error.errors[:MAX_PRINTED_ERRORS]:
                    field = f", {item['field']}" if item["field"] else ""
                    self.stderr.write(f"line {item['line']}{field}: {item['message']}")
                raise CommandError(str(error)) from None
            finally:
                progress.close()
        self.stdout.write(f"imported {result.imported} responses")
