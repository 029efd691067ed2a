"""`manage.py import_cases PATH`: the import page's code path, from a terminal."""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.importing import import_cases
from cases.mapping import ColumnMapping, MappingError
from cases.models import ImportMapping, Origin
from cases.readers import FORMATS, format_from_name
from cases.validation import ON_CONFLICT
from mleval_site.cli import ProgressReporter, open_input

MAX_PRINTED_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import test cases from a JSONL, CSV, JSON-array or Parquet file (or - for stdin), all or "
        "nothing; a table with its own column names through a column mapping (--map ...). "
        "Every bad line is reported with its line number and field, and then nothing is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the file to import, or - to read standard input")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="file format (default: from the file ending: .jsonl/.ndjson, .csv, .json, "
            ".parquet)",
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
        mapping = parser.add_argument_group(
            "column mapping",
            "a table with its own column names (CSV, JSONL, Parquet): which columns make which "
            "case fields (docs/formats.md, 'Tables with their own columns')",
        )
        mapping.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="a case field from a column; repeat input_data=COLUMN (or metadata=) for "
            "several columns, input_data.KEY=COLUMN to name the key",
        )
        mapping.add_argument(
            "--value",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="one value for every case, e.g. output_type=classification",
        )
        mapping.add_argument(
            "--json-column",
            action="append",
            default=[],
            metavar="COLUMN",
            help="a column whose text cells hold JSON",
        )
        mapping.add_argument(
            "--mapping", metavar="FILE", help="a mapping as JSON (the flags above add to it)"
        )
        mapping.add_argument(
            "--saved-mapping", metavar="NAME", help="a mapping saved on the import page"
        )
        mapping.add_argument(
            "--save-mapping", metavar="NAME", help="save the mapping used under NAME"
        )
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
        user_id, user = None, None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}.")
            user_id = user.pk
        mapping = self._mapping(options)
        if file_format == "parquet" and path == "-":
            raise CommandError("A Parquet file cannot be read from standard input: give its path.")
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
                    mapping=mapping,
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
        if options["save_mapping"] and mapping is not None and not options["dry_run"]:
            ImportMapping.remember(options["save_mapping"], mapping.as_json(), user)
        self.stdout.write(report.summary())

    def _mapping(self, options: dict) -> ColumnMapping | None:
        """The mapping the options describe, or None (the file names the case fields)."""
        flags = options["map"] or options["value"] or options["json_column"]
        base = None
        if options["mapping"] and options["saved_mapping"]:
            raise CommandError("Give --mapping FILE or --saved-mapping NAME, not both.")
        if options["mapping"]:
            try:
                base = json.loads(Path(options["mapping"]).read_text(encoding="utf-8"))
            except OSError as error:
                raise CommandError(f"Cannot read {options['mapping']}: {error.strerror}.") from None
            except ValueError as error:
                raise CommandError(f"--mapping {options['mapping']}: not JSON ({error}).") from None
        elif options["saved_mapping"]:
            saved = ImportMapping.objects.filter(name=options["saved_mapping"]).first()
            if saved is None:
                names = ", ".join(ImportMapping.objects.values_list("name", flat=True)[:20])
                raise CommandError(
                    f"--saved-mapping: no mapping named {options['saved_mapping']!r}"
                    f" (saved: {names or 'none'})."
                )
            base = saved.mapping
        if base is None and not flags:
            if options["save_mapping"]:
                raise CommandError("--save-mapping: give a mapping (--map, --mapping) to save.")
            return None
        try:
            return ColumnMapping.from_options(
                options["map"], options["value"], options["json_column"], base=base
            )
        except MappingError as error:
            raise CommandError("Bad mapping: " + "; ".join(error.errors)) from None
