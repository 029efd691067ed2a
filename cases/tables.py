"""Tables with their own column names (CSV, JSONL, a JSON array, Parquet) read through a column
mapping (cases.mapping) into case records, for cases.importing.import_cases; and the first rows
of such a file, for the import page's mapping form and its preview.

The file readers are cases.readers' (CSV cells, JSONL lines, JSON-array elements) and
cases.parquet's, so a bad line is reported the same way whichever way a file is imported. A
mapped column missing from the file is reported before any row is read, with the file's
columns, and nothing else is read: every row would fail for the same reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from cases.mapping import ColumnMapping
from cases.parquet import ParquetError, ParquetTable
from cases.readers import RECORD_READERS, CountingReader, csv_cells
from cases.validation import PREVIEW_ROWS, ImportReport, StoredTextCheck, Validator
from mleval_site import jsonsafe

Rows = Iterator[tuple[int, dict[str, Any], bool]]  # (line, {column: value}, suspect text)
SAMPLE_ROWS = 5
MAX_LISTED_COLUMNS = 30


@dataclass
class Table:
    """A file's column names (None: JSONL/JSON, which have no header) and its rows."""

    columns: list[str] | None
    rows: Rows


def open_table(
    source: IO[bytes],
    counter: CountingReader,
    file_format: str,
    report: ImportReport,
    columns: Callable[[list[str]], list[str] | None] = lambda names: None,
) -> Table | None:
    """The table in `source`; None (after reporting why) when it cannot be read at all.
    `columns(names)` says which columns to read (None: all; only Parquet reads fewer)."""
    if file_format == "parquet":
        report.unit = "row"
        return _parquet_table(source, counter, report, columns)
    if file_format == "csv":
        cells = csv_cells(counter, report)
        _, names = next(cells, (0, None))
        if names is None:
            return Table([], iter(()))
        return Table(names, _csv_rows(names, cells))
    return Table(None, _object_rows(RECORD_READERS[file_format](counter, report), report))


def _parquet_table(source, counter, report, columns) -> Table | None:
    try:
        table = ParquetTable(source)
    except ParquetError as error:
        report.add_error(0, "", str(error))
        return None
    size = _size(source)

    def rows() -> Rows:
        try:
            for number, row in table.rows(columns(table.columns)):
                if table.num_rows:
                    counter.bytes_read = size * number // table.num_rows
                yield number, row, _parquet_suspect(row)
        except ParquetError as error:
            report.rows += 1
            report.add_error(0, "", str(error))

    return Table(table.columns, rows())


def _parquet_suspect(row: dict[str, Any]) -> bool:
    """Whether a Parquet row may hold what PostgreSQL cannot store (then the validator walks
    it): a NUL in a string, or anything nested. Arrow strings are valid UTF-8 and the reader
    has turned NaN and infinities into null, so plain scalars need no walk."""
    for value in row.values():
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return True
        elif kind is dict or kind is list:
            return True
    return False


def _size(source: IO[bytes]) -> int:
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        position = source.seek(0, os.SEEK_END)
        source.seek(0)
        return position


def _csv_rows(names: list[str], cells: Iterator[tuple[int, list[str]]]) -> Rows:
    for line, values in cells:
        yield line, dict(zip(names, values, strict=True)), any(map(jsonsafe.suspect, values))


def _object_rows(records: Iterator[tuple[int, Any]], report: ImportReport) -> Rows:
    for line, record in records:
        suspect = isinstance(record, StoredTextCheck)
        row = record.record if suspect else record
        if type(row) is not dict:
            report.rows += 1
            report.add_error(line, "", "a row must be a JSON object of column: value")
            continue
        yield line, row, suspect


def mapped_records(
    source: IO[bytes],
    counter: CountingReader,
    file_format: str,
    mapping: ColumnMapping | None,
    report: ImportReport,
) -> Iterator[tuple[int, Any]]:
    """(line, case record) per row of the table, through `mapping` (None: the columns are named
    as the case fields, as in mleval's Parquet export). Cells that cannot be read are reported
    with their line and the field and column; the records go on to the case validator."""
    chosen: list[ColumnMapping] = []

    def wanted(names: list[str]) -> list[str]:
        if mapping is None:
            chosen.append(_identity(names, report))
        return [c for c in (mapping or chosen[0]).source_columns() if c in names]

    table = open_table(source, counter, file_format, report, wanted)
    if table is None:
        return
    if mapping is None:
        mapping = chosen[0] if chosen else _identity(table.columns or [], report)
    report.labels = mapping.labels()
    if table.columns is not None and not _columns_present(mapping, table.columns, report):
        return
    seen: set[str] = set()
    for line, row, suspect in table.rows:
        if table.columns is None:
            seen.update(row)
        record = mapping.record(
            row, lambda name, message, at=line: report.add_error(at, name, message)
        )
        if record is None:
            report.rows += 1
            continue
        yield line, StoredTextCheck(record) if suspect else record
    if table.columns is None and report.rows:
        for column in mapping.source_columns():
            if column not in seen:
                report.add_error(0, "", f"column {column!r} is in no line of the file")


def _identity(names: list[str], report: ImportReport) -> ColumnMapping:
    mapping, problems = ColumnMapping.identity(names)
    for column, message in problems:
        report.add_error(0, column, message)
    return mapping


def _columns_present(mapping: ColumnMapping, columns: list[str], report: ImportReport) -> bool:
    """Report every mapped column the file lacks (or has twice); True when there is none."""
    ok = report.ok
    listed = ", ".join(columns[:MAX_LISTED_COLUMNS]) + (
        ", ..." if len(columns) > MAX_LISTED_COLUMNS else ""
    )
    line = 0 if report.unit == "row" else 1
    for column in mapping.source_columns():
        if column not in columns:
            report.add_error(
                line, "", f"column {column!r} is not in the file; its columns: {listed}"
            )
        elif columns.count(column) > 1:
            report.add_error(line, "", f"column {column!r} appears twice in the header")
    return ok and report.ok


def sample(source: IO[bytes], file_format: str, rows: int = SAMPLE_ROWS) -> tuple[list, list, list]:
    """(columns, the first `rows` rows as {column: value}, problems) of a file: what the mapping
    form offers. JSONL/JSON columns are the keys of the first rows, in order of appearance."""
    report = ImportReport(file_format=file_format, dry_run=True)
    counter = CountingReader(source)
    table = open_table(source, counter, file_format, report)
    if table is None:
        return [], [], [str(error) for error in report.errors]
    first = [
        {
            name: f"({value})" if isinstance(value, ValueError) else value
            for name, value in row.items()
        }
        for _, row, _ in islice(table.rows, rows)
    ]  # a cell JSON cannot hold (cases.parquet's UnstorableValue) is shown as why
    columns = table.columns
    if columns is None:
        columns = list(dict.fromkeys(name for row in first for name in row))
    return columns, first, [str(error) for error in report.errors]


def preview(
    source: IO[bytes],
    file_format: str,
    mapping: ColumnMapping,
    *,
    origin: str = "",
    rows: int = PREVIEW_ROWS,
) -> ImportReport:
    """The first `rows` rows of the file through `mapping` and the case validator: the report's
    preview holds them as they will be stored, its errors what is wrong with them."""
    report = ImportReport(file_format=file_format, dry_run=True)
    counter = CountingReader(source)
    validator = Validator(report, origin)
    records = mapped_records(source, counter, file_format, mapping, report)
    while report.rows < rows:
        item = next(records, None)
        if item is None:
            break
        validator.values(*item)
    return report
