"""Reading test cases out of a JSONL, CSV or JSON-array file: the file readers behind
cases.importing.import_cases (the import page, its background task and `manage.py import_cases`).

Each reader turns a binary stream into (line, record) pairs, read as a stream (constant memory,
whatever the file's size); a problem with the file itself (bad UTF-8, malformed JSON, a CSV
record with the wrong number of cells) goes into the ImportReport with its line, and the reader
goes on to the next case where it can. Checking a record's fields is cases.validation's job.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from cases.validation import (
    IGNORED,
    JSON_FIELDS,
    KNOWN,
    REQUIRED,
    TAG_SEPARATOR,
    ImportReport,
    StoredTextCheck,
    unknown_field_message,
)
from mleval_site import jsonsafe

FORMATS = ("jsonl", "csv", "json", "parquet")  # parquet: cases.tables reads it
CHUNK = 1 << 20
MAX_JSON_ELEMENT = 64 << 20

_JSON_WS = re.compile(r"[ \t\n\r]*")
BOOLEANS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False}
BOOLEANS |= {"0": False, "no": False}


class _FileError(Exception):
    """A problem that stops reading the rest of the file (the reader cannot find the next case)."""

    def __init__(self, line: int, message: str) -> None:
        self.line, self.message = line, message
        super().__init__(message)


ENDINGS = (
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)


def format_from_name(name: str) -> str | None:
    """The format a file name's ending implies (ENDINGS, or `.json`), or None."""
    lower = name.lower()
    for ending, file_format in ENDINGS:
        if lower.endswith(ending):
            return file_format
    return "json" if lower.endswith(".json") else None


class CountingReader:
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


def json_problem(error: ValueError) -> str:
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


def _jsonl_records(reader: CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
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
            report.add_error(line, "", f"malformed JSON: {json_problem(error)}")
            continue
        if jsonsafe.suspect(text):
            record = StoredTextCheck(record)
        yield line, record


def _decoded_lines(reader: CountingReader, bad_lines: set[int]) -> Iterator[str]:
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


def csv_cells(reader: CountingReader, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(1, the header's names), then (line, cells) per record with as many cells as the header
    has names; records that are not (bad UTF-8, a wrong number of cells) are reported, and a
    broken quote stops the reading. Nothing for an empty file."""
    bad_lines: set[int] = set()
    rows = csv.reader(_decoded_lines(reader, bad_lines), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        yield 1, names
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
            yield line, cells
    except csv.Error as error:
        report.rows += 1
        report.add_error(rows.line_num, "", f"unreadable CSV ({error}); stopped reading here")


def _csv_records(reader: CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
    """A header naming the fields, then one case per record (JSON cells, `;`-separated tags)."""
    records = csv_cells(reader, report)
    _, names = next(records, (0, None))
    if names is None:
        return
    for name in names:
        if name not in KNOWN:
            report.add_error(1, name or "(empty)", unknown_field_message())
        elif names.count(name) > 1:
            report.add_error(1, name, "column appears twice in the header")
    for name in REQUIRED:
        if name not in names:
            report.add_error(1, name, "required column missing from the header")
    for line, cells in records:
        record = _csv_record(line, names, cells, report)
        if record is None:
            report.rows += 1
            continue
        yield line, record


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
                report.add_error(line, name, f"not valid JSON: {json_problem(error)} of the cell")
                failed = True
        elif name == "tags":
            record[name] = [tag.strip() for tag in cell.split(TAG_SEPARATOR) if tag.strip()]
        elif name == "is_verified":
            value = BOOLEANS.get(cell.strip().lower())
            if value is None:
                report.add_error(line, name, f"must be true or false, got {cell!r}")
                failed = True
            record[name] = value
        else:
            record[name] = cell
    if failed:
        return None
    return StoredTextCheck(record) if any(jsonsafe.suspect(cell) for cell in cells) else record


def _json_array_records(reader: CountingReader, report: ImportReport) -> Iterator[tuple[int, Any]]:
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
                    raise _FileError(err_line, f"malformed JSON: {json_problem(error)}") from None
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


Records = Iterator[tuple[int, Any]]

# The reader of each format: (stream, report) → (line, record) pairs.
RECORD_READERS: dict[str, Callable[[CountingReader, ImportReport], Records]] = {
    "jsonl": _jsonl_records,
    "csv": _csv_records,
    "json": _json_array_records,
}
