"""The import page's column-mapping form: one row per column of the uploaded file (what it
becomes, under which key, whether its cells are JSON), the values every case takes, and a name
to save the mapping under. The form only translates to and from cases.mapping's JSON; the rules
are ColumnMapping's."""

from __future__ import annotations

from typing import Any

from django import forms

from cases.mapping import KEYED, ColumnMapping, MappingError
from cases.models import Difficulty, ImportMapping
from cases.validation import FIELDS

# What a column can become, as the select offers it.
USES = [("", "—"), *((name, name) for name in FIELDS)]
# The fields a value for every case can be typed for on the form.
VALUE_FIELDS = ("input_type", "output_type", "model_type", "input_format", "category")
OUTPUT_TYPES = (
    "classification",
    "multilabel",
    "regression",
    "text",
    "bounding_boxes",
    "ranking",
    "forecast",
    "structured",
)


class MappingForm(forms.Form):
    """Built for a file's `columns`; `mapping()` is the ColumnMapping it describes."""

    difficulty = forms.ChoiceField(
        label="difficulty", choices=[("", "—"), *Difficulty.choices], required=False
    )
    tag_separator = forms.CharField(
        label="Tags separated by", initial=";", max_length=5, required=False, strip=False
    )
    save_as = forms.CharField(
        label="Save the mapping as",
        max_length=100,
        required=False,
        help_text="Offered on the import page for the next file (shared with the team; the "
        "same name replaces it).",
    )

    def __init__(self, *args, columns: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        for name in VALUE_FIELDS:
            attrs = {"list": "output-types"} if name == "output_type" else {}
            self.fields[name] = forms.CharField(
                label=name, required=False, max_length=100, widget=forms.TextInput(attrs)
            )
        for i, column in enumerate(columns):
            self.fields[f"use_{i}"] = forms.ChoiceField(label=column, choices=USES, required=False)
            self.fields[f"key_{i}"] = forms.CharField(
                label=f"{column}: key", required=False, max_length=100
            )
            self.fields[f"json_{i}"] = forms.BooleanField(label=f"{column}: JSON", required=False)
        order = [f"{part}_{i}" for i in range(len(columns)) for part in ("use", "key", "json")]
        self.order_fields([*order, *VALUE_FIELDS, "difficulty", "tag_separator", "save_as"])

    def column_rows(self) -> list[tuple[int, str, Any, Any, Any]]:
        """(index, column, use field, key field, JSON field) per column, for the template."""
        return [
            (i, c, self[f"use_{i}"], self[f"key_{i}"], self[f"json_{i}"])
            for i, c in enumerate(self.columns)
        ]

    def value_fields(self) -> list:
        return [self[name] for name in (*VALUE_FIELDS, "difficulty")]

    def mapping_json(self) -> dict:
        """The mapping as cases.mapping's JSON (call after is_valid)."""
        data: dict[str, Any] = {}
        keyed: dict[str, list[tuple[str, str]]] = {}
        json_columns = []
        cleaned = self.cleaned_data
        for i, column in enumerate(self.columns):
            use = cleaned.get(f"use_{i}")
            if cleaned.get(f"json_{i}"):
                json_columns.append(column)
            if not use:
                continue
            if use in KEYED:
                keyed.setdefault(use, []).append((cleaned.get(f"key_{i}", "").strip(), column))
            elif use in data:
                self.add_error(f"use_{i}", f"{use} already comes from column {data[use]}")
            else:
                data[use] = column
        for name, parts in keyed.items():
            if all(not key for key, _ in parts):
                data[name] = [column for _, column in parts]
            else:
                data[name] = {key or column: column for key, column in parts}
        values = {n: cleaned[n].strip() for n in (*VALUE_FIELDS, "difficulty") if cleaned.get(n)}
        if values:
            data["values"] = values
        if json_columns:
            data["json_columns"] = json_columns
        if cleaned.get("tag_separator") and cleaned["tag_separator"] != ";":
            data["tag_separator"] = cleaned["tag_separator"]
        return data

    def mapping(self) -> ColumnMapping | None:
        """The ColumnMapping, or None after adding the mapping's problems as form errors."""
        if not self.is_valid():
            return None
        data = self.mapping_json()
        if self.errors:
            return None
        try:
            return ColumnMapping.from_json(data)
        except MappingError as error:
            for message in error.errors:
                self.add_error(None, message)
            return None


def initial_for(columns: list[str], mapping: dict | None) -> dict:
    """The form's initial values: a saved mapping's, or each column named as a case field
    mapped to it (JSON fields as JSON)."""
    if not mapping:
        initial = {}
        for i, column in enumerate(columns):
            if column in FIELDS:
                initial[f"use_{i}"] = column
                initial[f"json_{i}"] = column in ("input_data", "ground_truth", "metadata")
        return initial
    initial: dict[str, Any] = {"tag_separator": mapping.get("tag_separator", ";")}
    position = {column: i for i, column in enumerate(columns)}
    for name, spec in mapping.items():
        if name not in FIELDS:
            continue
        if isinstance(spec, str):
            spec = [spec]
        pairs = spec.items() if isinstance(spec, dict) else ((None, column) for column in spec)
        for key, column in pairs:
            if column in position:
                i = position[column]
                initial[f"use_{i}"] = name
                if key and key != column:
                    initial[f"key_{i}"] = key
    for column in mapping.get("json_columns") or []:
        if column in position:
            initial[f"json_{position[column]}"] = True
    initial.update(mapping.get("values") or {})
    return initial


def remember(name: str, mapping: ColumnMapping, user) -> ImportMapping:
    return ImportMapping.remember(name, mapping.as_json(), user)
