"""Importing test cases from JSONL, CSV or a JSON array: the one code path behind the import page,
its background task and `manage.py import_cases`.

Files are read as a stream (constant memory, whatever their size). Every record is validated
against the same rules PostgreSQL enforces (DATA_MODEL.md) plus the ground-truth shape of its
output_type, and each problem is reported with its line and field. A real import writes the rows
with PostgreSQL `COPY` inside one transaction while it validates; the first bad record stops the
writing, validation goes on to report every error, and the transaction is rolled back, so a file
is imported whole or not at all. A dry run only validates.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from accounts import audit
from cases.models import Difficulty, Origin, default_is_verified
from cases.shapes import ground_truth_errors, json_type
from mleval_site import jsonsafe

FORMATS = ("jsonl", "csv", "json")
# The case fields of the file formats (INTERFACES.md), in the order export writes them.
FIELDS = (
    "input_data",
    "input_type",
    "input_format",
    "ground_truth",
    "output_type",
    "model_type",
    "category",
    "tags",
    "difficulty",
    "origin",
    "is_verified",
    "metadata",
)
REQUIRED = ("input_data", "input_type", "ground_truth", "output_type")
JSON_FIELDS = ("input_data", "ground_truth", "metadata")
# Keys an export (or another tool) writes that say nothing about the case itself: skipped.
IGNORED = ("id", "created_at", "updated_at", "created_by")
SLUG_FIELDS = {"input_type": 50, "output_type": 50, "input_format": 50, "model_type": 50}
MAX_CATEGORY = 100
MAX_TAG = 50
TAG_SEPARATOR = ";"  # CSV cells; tags may not contain it (nor the page's comma)
MAX_REPORTED_ERRORS = 1000
PREVIEW_ROWS = 10
PROGRESS_EVERY = 5000
CHUNK = 1 << 20
MAX_JSON_ELEMENT = 64 << 20

COPY_COLUMNS = (*FIELDS, "created_by_id")
COPY_SQL = f"COPY test_cases ({', '.join(COPY_COLUMNS)}) FROM STDIN"
# Text-format COPY: JSON columns go as JSON text and PostgreSQL parses them into jsonb.
COPY_TYPES = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text[]",
    "text",
    "text",
    "bool",
    "text",
    "int8",
]

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_JSON_WS = re.compile(r"[ \t\n\r]*")
_BOOLEANS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False}
_BOOLEANS |= {"0": False, "no": False}
_DIFFICULTIES = frozenset(Difficulty.values)
_ORIGINS = frozenset(Origin.values)
_KNOWN = frozenset(FIELDS) | frozenset(IGNORED)


@dataclass(frozen=True)
class RowError:
    """One problem with the file, where a person can find it: line (1-based) and field."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "the file"
        return (
            f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    """What an import (or a dry run) found and did; `errors` keeps the first MAX_REPORTED_ERRORS."""

    file_format: str
    dry_run: bool
    rows: int = 0
    valid: int = 0
    imported: int = 0
    error_count: int = 0
    bytes_read: int = 0
    errors: list[RowError] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("human", "ai-generated", "verified", "unverified", "golden"), 0
        )
    )

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, field_name, message))

    def summary(self) -> str:
        """The command's last line: `imported N cases`, `would import N cases`, or why not."""
        if not self.ok:
            errors = f"{self.error_count} error{'s' if self.error_count != 1 else ''}"
            return f"{errors} in {self.rows} rows; nothing imported"
        if self.dry_run:
            return f"would import {self.valid} cases"
        return f"imported {self.imported} cases"


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
) -> ImportReport:
    """Validate every case of `source` (a binary stream) and, unless `dry_run`, COPY them all in.

    `origin` forces every case's origin (a case stating another one is an error); `user_id`
    becomes created_by. `on_progress(rows, bytes_read)` is called every few thousand rows.
    Returns the report; nothing is written when it has errors.
    """
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    if origin and origin not in _ORIGINS:
        raise ValueError(f"unknown origin {origin!r}; use one of {', '.join(Origin.values)}")
    report = ImportReport(file_format=file_format, dry_run=dry_run)
    counter = _CountingReader(source)
    records = {"jsonl": _jsonl_records, "csv": _csv_records, "json": _json_array_records}[
        file_format
    ](counter, report)
    validator = _Validator(report, origin, user_id)

    def rows() -> Iterator[tuple]:
        for line, record in records:
            row = validator.row(line, record)
            if on_progress is not None and report.rows % PROGRESS_EVERY == 0:
                report.bytes_read = counter.bytes_read
                on_progress(report.rows, counter.bytes_read)
            if row is not None:
                yield row

    if dry_run:
        for _row in rows():
            pass
    else:
        _copy(rows(), report, user_id=user_id, origin=origin)
    if report.rows == 0 and report.ok:
        empty = "the file has a header but no cases" if file_format == "csv" else "no cases found"
        report.add_error(2 if file_format == "csv" else 1, "", f"the file is empty: {empty}")
    report.bytes_read = counter.bytes_read
    if not report.ok:
        report.imported = 0
    if on_progress is not None:
        on_progress(report.rows, counter.bytes_read)
    return report


def validate_record(record: Any, *, origin: str = "") -> tuple[dict | None, list[RowError]]:
    """One case object (from the form or the API) checked by the import's rules.

    Returns (field values as they will be stored, []) or (None, errors); errors carry the field
    and no line (line 0).
    """
    report = ImportReport(file_format="json", dry_run=True)
    values = _Validator(report, origin, None).values(0, _StoredTextCheck(record))
    if values is None:
        return None, report.errors
    return dict(zip(FIELDS, values, strict=True)), []


def _copy(
    rows: Iterable[tuple], report: ImportReport, *, user_id: int | None = None, origin: str = ""
) -> None:
    """COPY the rows inside one transaction; roll it all back at the first error.

    The import is recorded in the audit trail (who, how many) in the same transaction.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                written = 0
                for row in rows:
                    if report.error_count:  # keep validating, stop writing
                        continue
                    copy.write_row(row)
                    written += 1
                if report.error_count:
                    raise _Rollback
            audit.record(
                user_id,
                "cases.import",
                "testcase",
                count=written,
                format=report.file_format,
                origin=origin,
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
    except DatabaseError as error:  # a rule the validation missed: still nothing written
        message = str(error).strip().splitlines()[0]
        context = re.search(r"COPY test_cases, line (\d+)", str(error))
        where = f"case number {context.group(1)} of the file" if context else "a case"
        report.add_error(0, "", f"the database refused {where}: {message}")
        report.imported = 0


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
        return f"{error.msg} (column {error.colno})"
    return str(error)


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
            record = _StoredTextCheck(record)
        yield line, record


class _StoredTextCheck:
    """Marks a record whose text may hold characters PostgreSQL cannot store (checked slowly)."""

    def __init__(self, record: Any) -> None:
        self.record = record


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
            if name not in _KNOWN:
                report.add_error(1, name or "(empty)", _unknown_field_message())
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
        if cell == "" or name in IGNORED or name not in _KNOWN:
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
    return _StoredTextCheck(record) if any(jsonsafe.suspect(cell) for cell in cells) else record


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
                    err_line = line_at(min(where, len(buf)))
                    raise _FileError(err_line, f"malformed JSON: {_json_error(error)}") from None
                if end == len(buf) and not eof:
                    fill()
                    continue
                break
            text = buf[pos:end]
            pos, index = end, index + 1
            if jsonsafe.suspect(text):
                record = _StoredTextCheck(record)
            yield start_line, record
        pos += 1
        if skip_whitespace() != "":
            raise _FileError(line_at(pos), "unexpected content after the closing ]")
    except _FileError as error:
        report.rows += 1
        report.add_error(error.line, "", error.message)


def _unknown_field_message() -> str:
    return f"unknown field; a case has {', '.join(FIELDS)} (and an ignored id)"


class _Validator:
    """Turns one parsed record into a COPY row, reporting every problem with line and field."""

    def __init__(self, report: ImportReport, origin: str, user_id: int | None) -> None:
        self.report = report
        self.forced_origin = origin
        self.user_id = user_id

    def row(self, line: int, record: Any) -> tuple | None:
        """The COPY row (JSON fields as JSON text, then created_by_id), or None when invalid."""
        values = self.values(line, record)
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
            self.user_id,
        )

    def values(self, line: int, record: Any) -> tuple | None:
        """The FIELDS' values as they will be stored (defaults filled in), or None when invalid."""
        report = self.report
        report.rows += 1
        before = report.error_count
        if isinstance(record, _StoredTextCheck):
            record = record.record
            if isinstance(record, dict):
                for name, value in record.items():
                    if reason := jsonsafe.unstorable(value):
                        report.add_error(line, name, reason)
        if type(record) is not dict:
            report.add_error(line, "", f"a case must be a JSON object, got {json_type(record)}")
            return None
        add = report.add_error
        for name in record.keys() - _KNOWN:
            add(line, name, _unknown_field_message())
        for name in REQUIRED:
            if record.get(name) is None:
                add(line, name, "missing (required)")

        input_data = record.get("input_data")
        if input_data is not None and type(input_data) is not dict:
            add(line, "input_data", f"must be a JSON object, got {json_type(input_data)}")
        slugs = {}
        for name, max_length in SLUG_FIELDS.items():
            value = record.get(name)
            if value is None:
                slugs[name] = ""
            elif type(value) is not str:
                add(line, name, f"must be a string, got {json_type(value)}")
            elif value and not _SLUG.fullmatch(value):
                add(line, name, f"{value!r} is not a slug (letters, digits, - and _ only)")
            elif len(value) > max_length:
                add(line, name, f"longer than {max_length} characters")
            else:
                slugs[name] = value
        category = record.get("category")
        if category is None:
            category = ""
        elif type(category) is not str:
            add(line, "category", f"must be a string, got {json_type(category)}")
        elif len(category) > MAX_CATEGORY:
            add(line, "category", f"longer than {MAX_CATEGORY} characters")

        ground_truth = record.get("ground_truth")
        output_type = slugs.get("output_type")
        if ground_truth is not None and output_type:
            for message in ground_truth_errors(output_type, ground_truth):
                add(line, "ground_truth", message.removeprefix("ground_truth "))

        tags = record.get("tags")
        if tags is None:
            tags = []
        else:
            tags = self._tags(line, tags)

        difficulty = record.get("difficulty")
        if difficulty is None:
            difficulty = ""
        elif type(difficulty) is not str:
            add(line, "difficulty", f"must be a string, got {json_type(difficulty)}")
        elif difficulty not in _DIFFICULTIES and difficulty != "":
            add(line, "difficulty", f"{difficulty!r} is not one of {', '.join(Difficulty.values)}")

        origin = record.get("origin")
        if origin is None:
            origin = self.forced_origin or Origin.HUMAN.value
        elif type(origin) is not str:
            add(line, "origin", f"must be a string, got {json_type(origin)}")
        elif origin not in _ORIGINS:
            add(line, "origin", f"{origin!r} is not one of {', '.join(Origin.values)}")
        elif self.forced_origin and origin != self.forced_origin:
            add(line, "origin", f"{origin!r} contradicts the import's origin {self.forced_origin}")

        is_verified = record.get("is_verified")
        if is_verified is None:
            is_verified = default_is_verified(origin)
        elif type(is_verified) is not bool:
            add(line, "is_verified", f"must be true or false, got {json_type(is_verified)}")

        metadata = record.get("metadata")
        if metadata is None:
            metadata = {}
        elif type(metadata) is not dict:
            add(line, "metadata", f"must be a JSON object, got {json_type(metadata)}")

        if report.error_count != before:
            return None
        report.valid += 1
        counts = report.counts
        counts[origin] += 1
        counts["verified" if is_verified else "unverified"] += 1
        if is_verified and origin == Origin.HUMAN:
            counts["golden"] += 1
        values = (
            input_data,
            slugs["input_type"],
            slugs["input_format"],
            ground_truth,
            output_type,
            slugs["model_type"],
            category,
            tags,
            difficulty,
            origin,
            is_verified,
            metadata,
        )
        if len(report.preview) < PREVIEW_ROWS:
            report.preview.append({"line": line, **dict(zip(FIELDS, values, strict=True))})
        return values

    def _tags(self, line: int, tags: Any) -> list[str]:
        if type(tags) is not list:
            self.report.add_error(line, "tags", f"must be a list of strings, got {json_type(tags)}")
            return []
        clean = []
        for i, tag in enumerate(tags):
            if type(tag) is not str:
                message = f"tag {i + 1} must be a string, got {json_type(tag)}"
            elif not tag.strip():
                message = f"tag {i + 1} is empty"
            elif len(tag.strip()) > MAX_TAG:
                message = f"tag {tag!r} is longer than {MAX_TAG} characters"
            elif "," in tag or TAG_SEPARATOR in tag:
                message = f"tag {tag!r} may not contain ',' or ';'"
            else:
                clean.append(tag.strip())
                continue
            self.report.add_error(line, "tags", message)
        return clean
