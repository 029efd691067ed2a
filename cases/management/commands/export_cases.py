"""`manage.py export_cases PATH`: the export page's selection and files, from a terminal."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import record
from cases.exporting import EXPORT_FORMATS, export_lines
from cases.selection import (
    SelectionError,
    add_selection_arguments,
    select_cases,
    selection_from_options,
)
from mleval_site.cli import ProgressReporter


class Command(BaseCommand):
    help = (
        "Export a selection of test cases (the golden set unless widened) as JSONL or CSV; "
        "the file re-imports with import_cases. PATH - writes to standard output."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the file to write, or - for standard output")
        parser.add_argument(
            "--format", choices=EXPORT_FORMATS, help="default: from the file ending, else jsonl"
        )
        add_selection_arguments(parser)

    def handle(self, *args, path: str, format: str | None, **options) -> None:
        file_format = format or ("csv" if path.lower().endswith(".csv") else "jsonl")
        selection = selection_from_options(options)
        try:
            queryset = select_cases(selection)
        except SelectionError as error:
            raise CommandError(str(error)) from None
        total = queryset.count()
        to_stdout = path == "-"
        try:
            out = sys.stdout if to_stdout else Path(path).open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
        progress = ProgressReporter(total, stream=self.stderr._out, label="exporting", unit="cases")
        count = 0
        try:
            lines = export_lines(queryset, file_format)
            if file_format == "csv":
                out.write(next(lines))  # the header
            for count, line in enumerate(lines, start=1):
                out.write(line)
                if count % 5000 == 0:
                    progress.update(count, count)
            progress.update(count, count)
        except BrokenPipeError:  # e.g. `export_cases - | head`: the reader has had enough
            raise CommandError(f"standard output was closed after {count} cases") from None
        finally:
            progress.close()
            if not to_stdout:
                out.close()
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
