"""Exporting a selection of cases as JSONL, CSV or Parquet: streamed, constant memory,
re-importable.

The page (`/cases/export/`) and `manage.py export_cases` both write through `export_lines`.
The files have the import's fields and conventions (INTERFACES.md) plus `id`, which the import
ignores, so exporting and importing again gives the same cases. JSON columns are read from
PostgreSQL as text and written as they are: no parsing and re-serialising a million documents
(Parquet keeps them as JSON text columns too, written a row group at a time: cases.parquet).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from cases import parquet
from cases.validation import JSON_FIELDS, TAG_SEPARATOR

EXPORT_FORMATS = ("jsonl", "csv", "parquet")
BINARY_FORMATS = ("parquet",)  # written as bytes, not text
CHUNK_SIZE = 2000
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "parquet": parquet.CONTENT_TYPE,
}
COLUMNS = parquet.EXPORT_COLUMNS  # ("id", *FIELDS)


def export_rows(queryset: QuerySet) -> Iterator[tuple]:
    """(id, *FIELDS) per case in id order, JSON fields as JSON text, from a server-side cursor."""
    text_columns = {f"{name}_text": Cast(name, TextField()) for name in JSON_FIELDS}
    names = [f"{name}_text" if name in JSON_FIELDS else name for name in COLUMNS]
    rows = queryset.order_by("id").annotate(**text_columns).values_list(*names)
    return rows.iterator(chunk_size=CHUNK_SIZE)


class _Echo:
    """A file-like object whose write returns the text, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


class ExportStream:
    """The export file piece by piece: one line (or the CSV header) per item for JSONL and CSV,
    one row group's bytes for Parquet. `cases` counts the cases written so far."""

    def __init__(self, queryset: QuerySet, file_format: str) -> None:
        if file_format not in EXPORT_FORMATS:
            raise ValueError(
                f"unknown export format {file_format!r}; use {', '.join(EXPORT_FORMATS)}"
            )
        self.cases = 0
        self.binary = file_format in BINARY_FORMATS
        pieces = {"jsonl": _jsonl, "csv": _csv, "parquet": parquet.parquet_chunks}[file_format]
        self._pieces = pieces(self._rows(queryset))

    def _rows(self, queryset: QuerySet) -> Iterator[tuple]:
        for row in export_rows(queryset):
            self.cases += 1
            yield row

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> str | bytes:
        return next(self._pieces)


def export_lines(queryset: QuerySet, file_format: str) -> ExportStream:
    """The export file, piece by piece (see ExportStream)."""
    return ExportStream(queryset, file_format)


def _jsonl(rows: Iterator[tuple]) -> Iterator[str]:
    dumps = json.dumps
    for row in rows:
        (
            pk,
            input_data,
            input_type,
            input_format,
            ground_truth,
            output_type,
            model_type,
            category,
            tags,
            difficulty,
            origin,
            is_verified,
            metadata,
            external_id,
        ) = row
        yield (
            f'{{"id": {pk}, "input_data": {input_data}, "input_type": {dumps(input_type)}, '
            f'"input_format": {dumps(input_format)}, "ground_truth": {ground_truth}, '
            f'"output_type": {dumps(output_type)}, "model_type": {dumps(model_type)}, '
            f'"category": {dumps(category, ensure_ascii=False)}, '
            f'"tags": {dumps(tags, ensure_ascii=False)}, "difficulty": {dumps(difficulty)}, '
            f'"origin": {dumps(origin)}, "is_verified": {"true" if is_verified else "false"}, '
            f'"metadata": {metadata}, '
            f'"external_id": {dumps(external_id, ensure_ascii=False)}}}\n'
        )


def _csv(rows: Iterator[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    tags_at, verified_at = COLUMNS.index("tags"), COLUMNS.index("is_verified")
    for row in rows:
        cells = list(row)
        cells[tags_at] = TAG_SEPARATOR.join(cells[tags_at])
        cells[verified_at] = "true" if cells[verified_at] else "false"
        # external_id None is written as an empty cell, which the import reads as none
        yield writer.writerow(cells)


def export_filename(file_format: str, stamp: str) -> str:
    return f"mleval-cases-{stamp}.{file_format}"
