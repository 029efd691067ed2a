"""The rules a test case meets, whichever way it arrives: a line of an import file, the case
form, or the API. One validator (`Validator`), the same messages and defaults everywhere.

The rules are PostgreSQL's (DATA_MODEL.md: slugs, lengths, origins, difficulties, JSON objects)
plus the ground-truth shape of the case's output_type (cases.shapes) and the tag rules
(`tag_problem`, also asked by the bulk tag actions). Every problem is reported with its line
(0 outside a file) and field, and validation goes on after the first one, so a person sees all
of them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cases.ground_truth import ground_truth_errors
from cases.models import Difficulty, Origin, default_is_verified
from cases.shapes import json_type
from mleval_site import jsonsafe

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
    "external_id",
)
REQUIRED = ("input_data", "input_type", "ground_truth", "output_type")
JSON_FIELDS = ("input_data", "ground_truth", "metadata")
# Keys an export (or another tool) writes that say nothing about the case itself: skipped.
IGNORED = ("id", "created_at", "updated_at", "created_by")
SLUG_FIELDS = {"input_type": 50, "output_type": 50, "input_format": 50, "model_type": 50}
MAX_CATEGORY = 100
MAX_TAG = 50
MAX_EXTERNAL_ID = 200
ON_CONFLICT = ("error", "skip", "update")  # what an import does with a known external_id
TAG_SEPARATOR = ";"  # CSV cells; tags may not contain it (nor the page's comma)
MAX_REPORTED_ERRORS = 1000
PREVIEW_ROWS = 10

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
DIFFICULTIES = frozenset(Difficulty.values)
ORIGINS = frozenset(Origin.values)
KNOWN = frozenset(FIELDS) | frozenset(IGNORED)  # every other key is an error


@dataclass(frozen=True)
class RowError:
    """One problem with the file, where a person can find it: line (1-based) and field."""

    line: int
    field: str
    message: str
    unit: str = "line"  # "row" for Parquet files: the row number, from 1

    def __str__(self) -> str:
        where = f"{self.unit} {self.line}" if self.line else "the file"
        return (
            f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message, "unit": self.unit}


@dataclass
class ImportReport:
    """What an import (or a dry run) found and did; `errors` keeps the first MAX_REPORTED_ERRORS."""

    file_format: str
    dry_run: bool
    rows: int = 0
    valid: int = 0
    imported: int = 0
    updated: int = 0  # --on-conflict update: cases found by external_id and changed
    skipped: int = 0  # --on-conflict skip (or update with nothing to change): left as they were
    error_count: int = 0
    bytes_read: int = 0
    errors: list[RowError] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("human", "ai-generated", "verified", "unverified", "golden"), 0
        )
    )
    unit: str = "line"  # what `line` counts: "row" for Parquet
    labels: dict[str, str] = field(default_factory=dict)  # field → how errors name it

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            field_name = self.labels.get(field_name, field_name)
            self.errors.append(RowError(line, field_name, message, self.unit))

    def summary(self) -> str:
        """The command's last line: `imported N cases`, `would import N cases`, or why not."""
        if not self.ok:
            errors = f"{self.error_count} error{'s' if self.error_count != 1 else ''}"
            return f"{errors} in {self.rows} rows; nothing imported"
        if self.dry_run:
            return f"would import {self.valid} cases"
        existing = ""
        if self.updated or self.skipped:
            existing = (
                f" ({self.updated} existing updated, {self.skipped} existing left as they were)"
            )
        return f"imported {self.imported} cases{existing}"


class StoredTextCheck:
    """A record whose text may hold characters PostgreSQL cannot store (jsonsafe.suspect said so
    of its raw text): the validator walks it, which is slow, so only these are walked."""

    def __init__(self, record: Any) -> None:
        self.record = record


def validate_record(record: Any, *, origin: str = "") -> tuple[dict | None, list[RowError]]:
    """One case object (from the form or the API) checked by the import's rules.

    Returns (field values as they will be stored, []) or (None, errors); errors carry the field
    and no line (line 0).
    """
    report = ImportReport(file_format="json", dry_run=True)
    values = Validator(report, origin).values(0, StoredTextCheck(record))
    if values is None:
        return None, report.errors
    return dict(zip(FIELDS, values, strict=True)), []


def tag_problem(tag: str) -> str:
    """Why a tag cannot be stored, as the end of a sentence about the tag ("is empty"), or "".

    Every path that writes tags asks here: the import, the form, the API and the bulk actions.
    """
    tag = tag.strip()
    if not tag:
        return "is empty"
    if len(tag) > MAX_TAG:
        return f"is longer than {MAX_TAG} characters"
    if "," in tag or TAG_SEPARATOR in tag:
        return "may not contain ',' or ';'"
    return ""


def unknown_field_message() -> str:
    return f"unknown field; a case has {', '.join(FIELDS)} (and an ignored id)"


class Validator:
    """Checks parsed records one by one into `report`: their values as stored, or every problem
    with its line and field. `origin` forces every case's origin (another one is an error)."""

    def __init__(self, report: ImportReport, origin: str = "") -> None:
        self.report = report
        self.forced_origin = origin
        # external_id -> (record number, line) of its first case, for duplicates in one file
        self.external_ids: dict[str, tuple[int, int]] = {}

    def values(self, line: int, record: Any) -> tuple | None:
        """The FIELDS' values as they will be stored (defaults filled in), or None when invalid."""
        report = self.report
        report.rows += 1
        before = report.error_count
        if isinstance(record, StoredTextCheck):
            record = record.record
            if isinstance(record, dict):
                for name, value in record.items():
                    if reason := jsonsafe.unstorable(value):
                        report.add_error(line, name, reason)
        if type(record) is not dict:
            report.add_error(line, "", f"a case must be a JSON object, got {json_type(record)}")
            return None
        add = report.add_error
        for name in record.keys() - KNOWN:
            add(line, name, unknown_field_message())
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
        elif difficulty not in DIFFICULTIES and difficulty != "":
            add(line, "difficulty", f"{difficulty!r} is not one of {', '.join(Difficulty.values)}")

        origin = record.get("origin")
        if origin is None:
            origin = self.forced_origin or Origin.HUMAN.value
        elif type(origin) is not str:
            add(line, "origin", f"must be a string, got {json_type(origin)}")
        elif origin not in ORIGINS:
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

        external_id = self._external_id(line, record.get("external_id"))

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
            external_id,
        )
        if len(report.preview) < PREVIEW_ROWS:
            report.preview.append({"line": line, **dict(zip(FIELDS, values, strict=True))})
        return values

    def _external_id(self, line: int, value: Any) -> str | None:
        """A string (an integer id becomes its digits), unique within the file; "" is none."""
        if value is None or value == "":
            return None
        if type(value) is int:
            value = str(value)
        if type(value) is not str:
            message = f"must be a string or an integer, got {json_type(value)}"
        elif value != value.strip() or not value.strip():
            message = "may not start or end with spaces"
        elif len(value) > MAX_EXTERNAL_ID:
            message = f"longer than {MAX_EXTERNAL_ID} characters"
        elif (first := self.external_ids.setdefault(value, (self.report.rows, line)))[0] != (
            self.report.rows
        ):
            message = f"{value!r} is also the external_id of the case on line {first[1]}"
        else:
            return value
        self.report.add_error(line, "external_id", message)
        return None

    def _tags(self, line: int, tags: Any) -> list[str]:
        if type(tags) is not list:
            self.report.add_error(line, "tags", f"must be a list of strings, got {json_type(tags)}")
            return []
        clean = []
        for i, tag in enumerate(tags):
            if type(tag) is not str:
                message = f"tag {i + 1} must be a string, got {json_type(tag)}"
            elif not (problem := tag_problem(tag)):
                clean.append(tag.strip())
                continue
            elif not tag.strip():
                message = f"tag {i + 1} {problem}"
            else:
                message = f"tag {tag!r} {problem}"
            self.report.add_error(line, "tags", message)
        return clean
