"""`manage.py import_cases PATH`: the import page's code path, from a terminal."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.importing import import_cases
from cases.models import Origin
from cases.readers import FORMATS, format_from_name
from cases.validation import ON_CONFLICT
from mleval_site.cli import ProgressReporter, open_input

MAX_PRINTED_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import test cases from a JSONL, CSV or JSON-array file (or - for stdin), all or nothing. "
        "Every bad line is reported with its line number and field, and then nothing is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the file to import, or - to read standard input")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="file format (default: from the file ending: .jsonl/.ndjson, .csv, .json)",
        )
        parser.add_argument(
            "--origin",
            choices=Origin.values,
            help="origin of every case in the file (a case stating another one is an error)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and report, write nothing"
        )
        parser.add_argument("--user", metavar="USERNAME", help="record this user as created_by")
        parser.add_argument(
            "--on-conflict",
            choices=ON_CONFLICT,
            default="error",
            help="a case whose external_id is already stored: error (default: nothing is "
            "imported), skip (keep the stored case) or update (the file's values win)",
        )

    def handle(self, *args, path: str, format: str | None, origin: str | None, **options) -> None:
        file_format = format or (None if path == "-" else format_from_name(path))
        if file_format is None:
            raise CommandError(
                f"Cannot tell the format of {path!r} from its name: pass --format "
                f"({' | '.join(FORMATS)})."
            )
        user_id = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}.")
            user_id = user.pk
        with open_input(path) as (stream, size):
            progress = ProgressReporter(size, stream=self.stderr._out, label="reading")
            try:
                report = import_cases(
                    stream,
                    file_format=file_format,
                    origin=origin or "",
                    user_id=user_id,
                    dry_run=options["dry_run"],
                    on_conflict=options["on_conflict"],
                    on_progress=progress.update,
                )
            finally:
                progress.close()
        if not report.ok:
            for error in report.errors[:MAX_PRINTED_ERRORS]:
                self.stderr.write(str(error))
            hidden = report.error_count - min(len(report.errors), MAX_PRINTED_ERRORS)
            if hidden:
                self.stderr.write(f"... and {hidden} more errors")
            first = report.errors[0] if report.errors else "an error"
            raise CommandError(f"{report.summary()} (first: {first})")
        self.stdout.write(report.summary())
