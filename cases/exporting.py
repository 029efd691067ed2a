"""Exporting a selection of cases as JSONL or CSV: streamed, constant memory, re-importable.

The page (`/cases/export/`) and `manage.py export_cases` both write through `export_lines`.
The files have the import's fields and conventions (INTERFACES.md) plus `id`, which the import
ignores, so exporting and importing again gives the same cases. JSON columns are read from
PostgreSQL as text and written as they are: no parsing and re-serialising a million documents.
"""

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from cases.validation import FIELDS, JSON_FIELDS, TAG_SEPARATOR

EXPORT_FORMATS = ("jsonl", "csv")
CHUNK_SIZE = 2000
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
COLUMNS = ("id", *FIELDS)


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


def export_lines(queryset: QuerySet, file_format: str) -> Iterator[str]:
    """The export file, piece by piece (one line, or the header, per item)."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {file_format!r}; use jsonl or csv")
    dumps = json.dumps
    if file_format == "jsonl":
        for row in export_rows(queryset):
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
        return
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    tags_at, verified_at = COLUMNS.index("tags"), COLUMNS.index("is_verified")
    for row in export_rows(queryset):
        cells = list(row)
        cells[tags_at] = TAG_SEPARATOR.join(cells[tags_at])
        cells[verified_at] = "true" if cells[verified_at] else "false"
        # external_id None is written as an empty cell, which the import reads as none
        yield writer.writerow(cells)


def export_filename(file_format: str, stamp: str) -> str:
    return f"mleval-cases-{stamp}.{file_format}"
