"""`manage.py export_cases PATH`: the export page's selection and files, from a terminal."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import record
from cases.exporting import BINARY_FORMATS, EXPORT_FORMATS, export_lines
from cases.selection import (
    SelectionError,
    add_selection_arguments,
    select_cases,
    selection_from_options,
)
from mleval_site.cli import ProgressReporter


class Command(BaseCommand):
    help = (
        "Export a selection of test cases (the golden set unless widened) as JSONL, CSV or "
        "Parquet; "
        "the file re-imports with import_cases. PATH - writes to standard output."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the file to write, or - for standard output")
        parser.add_argument(
            "--format",
            choices=EXPORT_FORMATS,
            help="default: from the file ending (.csv, .parquet), else jsonl",
        )
        add_selection_arguments(parser)

    def handle(self, *args, path: str, format: str | None, **options) -> None:
        file_format = format or _format_from_name(path)
        selection = selection_from_options(options)
        try:
            queryset = select_cases(selection)
        except SelectionError as error:
            raise CommandError(str(error)) from None
        total = queryset.count()
        to_stdout = path == "-"
        binary = file_format in BINARY_FORMATS
        try:
            if to_stdout:
                out = sys.stdout.buffer if binary else sys.stdout
            elif binary:
                out = Path(path).open("wb")
            else:
                out = Path(path).open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
        progress = ProgressReporter(total, stream=self.stderr._out, label="exporting", unit="cases")
        stream = export_lines(queryset, file_format)
        try:
            for piece in stream:
                out.write(piece)
                if stream.cases % 5000 == 0 or binary:
                    progress.update(stream.cases, stream.cases)
            progress.update(stream.cases, stream.cases)
        except BrokenPipeError:  # e.g. `export_cases - | head`: the reader has had enough
            raise CommandError(f"standard output was closed after {stream.cases} cases") from None
        finally:
            progress.close()
            if not to_stdout:
                out.close()
        count = stream.cases
        record(
            None,
            "cases.export",
            "testcase",
            count=count,
            format=file_format,
            selection=selection,
            via="command",
        )
        # With the cases on standard output, the summary goes to standard error.
        (self.stderr if to_stdout else self.stdout).write(f"exported {count} cases")


def _format_from_name(path: str) -> str:
    lower = path.lower()
    return next((f for f in EXPORT_FORMATS if lower.endswith(f".{f}")), "jsonl")
