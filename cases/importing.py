"""Importing test cases from JSONL, CSV or a JSON array: the one code path behind the import page,
its background task and `manage.py import_cases`.

Files are read as a stream (constant memory, whatever their size). Every record is checked by
the case validator (cases.validation: the rules of the form and the API too), and each problem
is reported with its line and field. A real import writes the rows
with PostgreSQL `COPY` inside one transaction while it validates; the first bad record stops the
writing, validation goes on to report every error, and the transaction is rolled back, so a file
is imported whole or not at all. A dry run only validates.

Cases may carry an `external_id` (unique when set). `on_conflict` says what a case whose
external_id is already stored does: `error` (the default: nothing is imported), `skip` (the
stored case stays as it is) or `update` (the stored case takes the file's values). The last two
COPY into a temporary table first and then upsert set-based; `error` keeps the direct COPY.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from accounts import audit
from cases.models import Origin
from cases.validation import (
    FIELDS,
    IGNORED,
    JSON_FIELDS,
    KNOWN,
    ON_CONFLICT,
    ORIGINS,
    REQUIRED,
    TAG_SEPARATOR,
    ImportReport,
    RowError,
    StoredTextCheck,
    Validator,
    unknown_field_message,
)
from jobs.signals import wrote
from mleval_site import jsonsafe

__all__ = [
    "FIELDS",
    "FORMATS",
    "ON_CONFLICT",
    "ImportReport",
    "RowError",
    "format_from_name",
    "import_cases",
]

FORMATS = ("jsonl", "csv", "json")
PROGRESS_EVERY = 5000
CHUNK = 1 << 20
MAX_JSON_ELEMENT = 64 << 20

COPY_COLUMNS = (*FIELDS, "created_by_id")
COPY_SQL = f"COPY test_cases ({', '.join(COPY_COLUMNS)}) FROM STDIN"
# Text-format COPY: JSON columns go as JSON text and PostgreSQL parses them into jsonb.
COPY_TYPES = [*["text"] * 7, "text[]", "text", "text", "bool", "text", "text", "int8"]
STAGING = "case_import"  # the temporary table of --on-conflict skip|update
_COLUMNS = ", ".join(COPY_COLUMNS)
_UPDATED = [name for name in FIELDS if name != "external_id"]
_UNIQUE_EXTERNAL_ID = re.compile(r"Key \(external_id\)=\((.*)\) already exists")

_JSON_WS = re.compile(r"[ \t\n\r]*")
_BOOLEANS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False}
_BOOLEANS |= {"0": False, "no": False}


class _FileError(Exception):
    """A problem that stops reading the rest of the file (the reader cannot find the next case)."""

    def __init__(self, line: int, message: str) -> None:
        self.line, self.message = line, message
        super().__init__(message)


class _Rollback(Exception):
    pass


def format_from_name(name: str) -> str | None:
    """The format a file name's ending implies (`.jsonl`/`.ndjson`, `.csv`, `.json`), or None."""
    lower = name.lower()
    for ending, file_format in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".csv", "csv")):
        if lower.endswith(ending):
            return file_format
    return "json" if lower.endswith(".json") else None


def import_cases(
    source: IO[bytes],
    *,
    file_format: str,
    origin: str = "",
    user_id: int | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_conflict: str = "error",
) -> ImportReport:
    """Validate every case of `source` (a binary stream) and, unless `dry_run`, COPY them all in.

    `origin` forces every case's origin (a case stating another one is an error); `user_id`
    becomes created_by. `on_progress(rows, bytes_read)` is called every few thousand rows.
    `on_conflict` (ON_CONFLICT) handles cases whose external_id is already stored.
    Returns the report; nothing is written when it has errors.
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
    counter = _CountingReader(source)
    records = {"jsonl": _jsonl_records, "csv": _csv_records, "json": _json_array_records}[
        file_format
    ](counter, report)
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
        report.add_error(2 if file_format == "csv" else 1, "", f"the file is empty: {empty}")
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


class _CountingReader:
    """A binary stream that counts the bytes read (for progress) and reads lines or chunks."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.stream:
            self.bytes_read += len(raw)
            yield raw

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.bytes_read += len(data)
        return data


_loads = jsonsafe.decode
_raw_decode = jsonsafe.raw_decode


def _json_error(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (column {_stopped_at(error.doc, error.pos)[1]})"
    return str(error)


def _stopped_at(doc: str, pos: int) -> tuple[int, int]:
    """(newlines before, column) of where the parser stopped in `doc`: the error's position
    moved back over the whitespace before it. A missing brace or comma is only noticed at the
    next line's first character, but it is missing at the end of the line before, where the
    reader should look (not "column 1")."""
    pos = _stopped_where(doc, pos)
    return doc.count("\n", 0, pos), pos - (doc.rfind("\n", 0, pos) + 1) + 1


def _stopped_where(doc: str, pos: int) -> int:
    """`pos` moved back over the whitespace before it (see _stopped_at)."""
    while pos > 0 and doc[pos - 1].isspace():
        pos -= 1
    return pos


def _jsonl_records(reader: _CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
    """One JSON object per line; blank lines are skipped, every bad line reported."""
    for line, raw in enumerate(reader, 1):
        if line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if raw.isspace() or not raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            report.rows += 1
            report.add_error(line, "", f"not valid UTF-8 (byte {error.start + 1} of the line)")
            continue
        try:
            record = _loads(text)
        except ValueError as error:
            report.rows += 1
            report.add_error(line, "", f"malformed JSON: {_json_error(error)}")
            continue
        if jsonsafe.suspect(text):
            record = StoredTextCheck(record)
        yield line, record


def _decoded_lines(reader: _CountingReader, bad_lines: set[int]) -> Iterator[str]:
    """Text lines for the csv module; undecodable lines are noted in `bad_lines`, not raised."""
    for line, raw in enumerate(reader, 1):
        if line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(line)
            yield raw.decode("utf-8", errors="replace")


csv.field_size_limit(MAX_JSON_ELEMENT)


def _csv_records(reader: _CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
    """A header naming the fields, then one case per record (JSON cells, `;`-separated tags)."""
    bad_lines: set[int] = set()
    rows = csv.reader(_decoded_lines(reader, bad_lines), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        for name in names:
            if name not in KNOWN:
                report.add_error(1, name or "(empty)", unknown_field_message())
            elif names.count(name) > 1:
                report.add_error(1, name, "column appears twice in the header")
        for name in REQUIRED:
            if name not in names:
                report.add_error(1, name, "required column missing from the header")
        end = rows.line_num
        for cells in rows:
            line, end = end + 1, rows.line_num
            if not cells:
                continue
            if bad_lines and any(n in bad_lines for n in range(line, end + 1)):
                report.rows += 1
                report.add_error(line, "", "not valid UTF-8; save the file as UTF-8")
                continue
            if len(cells) != len(names):
                report.rows += 1
                report.add_error(
                    line, "", f"has {len(cells)} cells but the header names {len(names)} columns"
                )
                continue
            record = _csv_record(line, names, cells, report)
            if record is None:
                report.rows += 1
                continue
            yield line, record
    except csv.Error as error:
        report.rows += 1
        report.add_error(rows.line_num, "", f"unreadable CSV ({error}); stopped reading here")


def _csv_record(line: int, names: list[str], cells: list[str], report: ImportReport) -> Any:
    """A case dict from one CSV record, or None after reporting the cells that are not JSON."""
    record: dict[str, Any] = {}
    failed = False
    for name, cell in zip(names, cells, strict=True):
        if cell == "" or name in IGNORED or name not in KNOWN:
            continue
        if name in JSON_FIELDS:
            try:
                record[name] = _loads(cell)
            except ValueError as error:
                report.add_error(line, name, f"not valid JSON: {_json_error(error)} of the cell")
                failed = True
        elif name == "tags":
            record[name] = [tag.strip() for tag in cell.split(TAG_SEPARATOR) if tag.strip()]
        elif name == "is_verified":
            value = _BOOLEANS.get(cell.strip().lower())
            if value is None:
                report.add_error(line, name, f"must be true or false, got {cell!r}")
                failed = True
            record[name] = value
        else:
            record[name] = cell
    if failed:
        return None
    return StoredTextCheck(record) if any(jsonsafe.suspect(cell) for cell in cells) else record


def _json_array_records(reader: _CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
    """The elements of one top-level JSON array, decoded one at a time from 1 MiB chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    buf, pos, line, counted, eof, first_chunk = "", 0, 1, 0, False, True

    def fill() -> None:
        nonlocal buf, pos, line, counted, eof, first_chunk
        line += buf.count("\n", counted, pos)
        buf, pos, counted = buf[pos:], 0, 0
        data = reader.read(CHUNK)
        eof = not data
        try:
            text = decoder.decode(data, final=eof)
        except UnicodeDecodeError:
            message = "not valid UTF-8; save the file as UTF-8"
            raise _FileError(line + buf.count("\n"), message) from None
        if first_chunk:
            text, first_chunk = text.removeprefix("\ufeff"), False
        buf += text

    def line_at(position: int) -> int:
        nonlocal line, counted
        line += buf.count("\n", counted, position)
        counted = position
        return line

    def skip_whitespace() -> str:
        """The next significant character ("" at the end of the file)."""
        nonlocal pos
        while True:
            pos = _JSON_WS.match(buf, pos).end()
            if pos < len(buf) or eof:
                return buf[pos] if pos < len(buf) else ""
            fill()

    try:
        fill()
        char = skip_whitespace()
        if char == "":
            return
        if char != "[":
            raise _FileError(
                line_at(pos),
                "a .json file must hold one JSON array of cases ([{...}, {...}]); "
                "for one case per line use JSONL (--format jsonl)",
            )
        pos += 1
        index = 0
        while True:
            char = skip_whitespace()
            if char == "]" and index == 0:
                break
            if index:
                if char == "]":
                    break
                if char != ",":
                    raise _FileError(
                        line_at(pos), f"malformed JSON: expected ',' or ']' after case {index}"
                    )
                pos += 1
                char = skip_whitespace()
            if char == "":
                raise _FileError(line_at(pos), "malformed JSON: the array is not closed with ]")
            start_line = line_at(pos)
            while True:
                try:
                    record, end = _raw_decode(buf, pos)
                except ValueError as error:
                    if not isinstance(error, json.JSONDecodeError):
                        raise _FileError(line_at(pos), str(error)) from None
                    where = error.pos
                    unfinished = len(buf) - where < 256 or "Unterminated string" in str(error)
                    if not eof and unfinished and len(buf) - pos < MAX_JSON_ELEMENT:
                        fill()
                        continue
                    err_line = line_at(_stopped_where(buf, min(where, len(buf))))
                    raise _FileError(err_line, f"malformed JSON: {_json_error(error)}") from None
                if end == len(buf) and not eof:
                    fill()
                    continue
                break
            text = buf[pos:end]
            pos, index = end, index + 1
            if jsonsafe.suspect(text):
                record = StoredTextCheck(record)
            yield start_line, record
        pos += 1
        if skip_whitespace() != "":
            raise _FileError(line_at(pos), "unexpected content after the closing ]")
    except _FileError as error:
        report.rows += 1
        report.add_error(error.line, "", error.message)


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
