"""Importing test cases from JSONL, CSV, a JSON array or Parquet: the one code path behind the
import page, its background task and `manage.py import_cases`.

Files are read as a stream by cases.readers (constant memory, whatever their size). Every
record is checked by the case validator (cases.validation: the rules of the form and the API
too), and each problem is reported with its line and field. A real import writes the rows with
PostgreSQL `COPY` inside one transaction while it validates; the first bad record stops the
writing, validation goes on to report every error, and the transaction is rolled back, so a file
is imported whole or not at all. A dry run only validates.

Cases may carry an `external_id` (unique when set). `on_conflict` says what a case whose
external_id is already stored does: `error` (the default: nothing is imported), `skip` (the
stored case stays as it is) or `update` (the stored case takes the file's values). The last two
COPY into a temporary table first and then upsert set-based; `error` keeps the direct COPY.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from accounts import audit
from cases.mapping import ColumnMapping
from cases.models import Origin
from cases.readers import FORMATS, RECORD_READERS, CountingReader
from cases.tables import mapped_records
from cases.validation import FIELDS, ON_CONFLICT, ORIGINS, ImportReport, Validator
from jobs.signals import wrote

PROGRESS_EVERY = 5000

COPY_COLUMNS = (*FIELDS, "created_by_id")
COPY_SQL = f"COPY test_cases ({', '.join(COPY_COLUMNS)}) FROM STDIN"
# Text-format COPY: JSON columns go as JSON text and PostgreSQL parses them into jsonb.
COPY_TYPES = [*["text"] * 7, "text[]", "text", "text", "bool", "text", "text", "int8"]
STAGING = "case_import"  # the temporary table of --on-conflict skip|update
_COLUMNS = ", ".join(COPY_COLUMNS)
_UPDATED = [name for name in FIELDS if name != "external_id"]
_UNIQUE_EXTERNAL_ID = re.compile(r"Key \(external_id\)=\((.*)\) already exists")


class _Rollback(Exception):
    pass


def import_cases(
    source: IO[bytes],
    *,
    file_format: str,
    origin: str = "",
    user_id: int | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_conflict: str = "error",
    mapping: ColumnMapping | None = None,
) -> ImportReport:
    """Validate every case of `source` (a binary stream) and, unless `dry_run`, COPY them all in.

    `origin` forces every case's origin (a case stating another one is an error); `user_id`
    becomes created_by. `on_progress(rows, bytes_read)` is called every few thousand rows.
    `on_conflict` (ON_CONFLICT) handles cases whose external_id is already stored. `mapping`
    reads a table with its own column names (cases.mapping; a Parquet file without one has the
    case fields' names). Returns the report; nothing is written when it has errors.
    """
    if on_conflict not in ON_CONFLICT:
        raise ValueError(
            f"unknown on_conflict {on_conflict!r}; use one of {', '.join(ON_CONFLICT)}"
        )
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    if origin and origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}; use one of {', '.join(Origin.values)}")
    report = ImportReport(file_format=file_format, dry_run=dry_run)
    counter = CountingReader(source)
    if mapping is not None or file_format not in RECORD_READERS:
        records = mapped_records(source, counter, file_format, mapping, report)
    else:
        records = RECORD_READERS[file_format](counter, report)
    validator = Validator(report, origin)

    def rows() -> Iterator[tuple]:
        for line, record in records:
            row = _copy_row(validator.values(line, record), user_id)
            if on_progress is not None and report.rows % PROGRESS_EVERY == 0:
                report.bytes_read = counter.bytes_read
                on_progress(report.rows, counter.bytes_read)
            if row is not None:
                yield row

    if dry_run:
        for _row in rows():
            pass
    else:
        _copy(rows(), report, user_id=user_id, origin=origin, on_conflict=on_conflict)
    if report.rows == 0 and report.ok:
        empty = "the file has a header but no cases" if file_format == "csv" else "no cases found"
        line = {"csv": 2, "parquet": 0}.get(file_format, 1)
        report.add_error(line, "", f"the file is empty: {empty}")
    report.bytes_read = counter.bytes_read
    if not report.ok:
        report.imported = report.updated = report.skipped = 0
    if report.imported or report.updated:  # fresh statistics for the next page; runs told
        wrote({"test_cases": report.imported}, None, sender=import_cases)
    if on_progress is not None:
        on_progress(report.rows, counter.bytes_read)
    return report


def _copy(
    rows: Iterable[tuple],
    report: ImportReport,
    *,
    user_id: int | None = None,
    origin: str = "",
    on_conflict: str = "error",
) -> None:
    """COPY the rows inside one transaction; roll it all back at the first error.

    The import is recorded in the audit trail (who, how many) in the same transaction.
    """
    staged = on_conflict != "error"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if staged:
                cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {STAGING} ON COMMIT DROP AS "
                    f"SELECT {_COLUMNS} FROM test_cases WITH NO DATA"
                )
                cursor.execute(f"ALTER TABLE {STAGING} ADD COLUMN position bigserial")
            sql = f"COPY {STAGING} ({_COLUMNS}) FROM STDIN" if staged else COPY_SQL
            with cursor.copy(sql) as copy:
                copy.set_types(COPY_TYPES)
                written = 0
                for row in rows:
                    if report.error_count:  # keep validating, stop writing
                        continue
                    copy.write_row(row)
                    written += 1
                if report.error_count:
                    raise _Rollback
            if staged:
                written = _upsert_staged(cursor, report, update=on_conflict == "update")
            audit.record(
                user_id,
                "cases.import",
                "testcase",
                count=written,
                format=report.file_format,
                origin=origin,
                on_conflict=on_conflict,
                updated=report.updated,
                skipped=report.skipped,
            )
            report.imported = written
    except _Rollback:
        report.imported = 0
    except (OperationalError, InterfaceError) as error:  # e.g. PostgreSQL restarted mid-import
        message = str(error).strip().splitlines()[0] if str(error).strip() else "no reason given"
        report.add_error(
            0, "", f"the connection to the database was lost ({message}); import the file again"
        )
        report.imported = 0
    except (DatabaseError, psycopg.DatabaseError) as error:  # a rule the checks missed (COPY
        # raises psycopg's own errors): still nothing written
        message = str(error).strip().splitlines()[0]
        context = re.search(r"COPY test_cases, line (\d+)", str(error))
        where = f"case number {context.group(1)} of the file" if context else "a case"
        if known := _UNIQUE_EXTERNAL_ID.search(str(error)):
            report.add_error(
                0,
                "external_id",
                f"{where} has external_id {known.group(1)!r}, which a stored case already has; "
                "import with on conflict 'skip' (keep the stored cases) or 'update'",
            )
        else:
            report.add_error(0, "", f"the database refused {where}: {message}")
        report.imported = 0
        report.updated = report.skipped = 0


def _upsert_staged(cursor, report: ImportReport, *, update: bool) -> int:
    """Move the staged cases in, set-based: known external_ids are updated (only where a value
    differs, so an unchanged case keeps its updated_at and runs' fingerprints) or skipped; the
    rest inserted in file order. Returns how many were inserted."""
    cursor.execute(
        f"SELECT count(*) FROM {STAGING} s JOIN test_cases t ON t.external_id = s.external_id"
    )
    known = cursor.fetchone()[0]
    if update and known:
        columns = ", ".join(f"t.{name}" for name in _UPDATED)
        staged = ", ".join(f"s.{name}" for name in _UPDATED)
        assignments = ", ".join(f"{name} = s.{name}" for name in _UPDATED)
        cursor.execute(
            f"UPDATE test_cases t SET {assignments}, updated_at = statement_timestamp() "
            f"FROM {STAGING} s "
            f"WHERE t.external_id = s.external_id AND ({columns}) IS DISTINCT FROM ({staged})"
        )
        report.updated = cursor.rowcount
    report.skipped = known - report.updated
    cursor.execute(
        f"INSERT INTO test_cases ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} s "
        "WHERE s.external_id IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM test_cases t WHERE t.external_id = s.external_id) ORDER BY s.position "
        "ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING"
    )
    return cursor.rowcount


def _copy_row(values: tuple | None, user_id: int | None) -> tuple | None:
    """The COPY row of a case's values (JSON fields as JSON text, then created_by_id)."""
    if values is None:
        return None
    dumps = json.dumps
    return (
        dumps(values[0], ensure_ascii=False),
        values[1],
        values[2],
        dumps(values[3], ensure_ascii=False),
        *values[4:11],
        dumps(values[11], ensure_ascii=False),
        values[12],
        user_id,
    )
