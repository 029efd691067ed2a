"""Column mappings: importing a table whose columns have their own names (a CSV, JSONL or Parquet
file from a public hub, a warehouse export) as test cases.

A mapping says which column(s) each case field comes from, and which fields take one value for
every row. As JSON (the import page's saved mappings, `import_cases --mapping FILE`):

    {"input_data": {"text": "sentence"}, "ground_truth": "label", "external_id": "idx",
     "metadata": ["source", "split"], "json_columns": ["meta"], "tag_separator": ";",
     "values": {"input_type": "text", "output_type": "classification", "model_type": "nlp"}}

- `input_data` and `metadata` come from one or several columns: a list of columns (each one a
  key named after it), an object {key: column}, or one column name. One column named without a
  key whose value is an object (a Parquet struct, a JSONL object, a JSON cell) is the whole
  field; any other value becomes a key.
- Every other case field comes from one column (`"ground_truth": "label"`) or from `values`.
  `input_data`, `ground_truth`, `input_type` and `output_type` are required.
- `json_columns`: columns whose text cells hold JSON (parsed; a cell that is not JSON is an
  error naming its row and column).
- A ground truth that is not an object is put in its output type's shape (`"positive"` →
  `{"label": "positive"}`); a CSV cell of a regression is read as a number, of a multilabel
  as `;`-separated labels. A `tags` cell is split on `tag_separator`.

The record a mapping makes of a row is then checked by the one case validator
(cases.validation), like a JSONL line: the same rules and messages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cases.readers import BOOLEANS, json_problem
from cases.shapes import json_type
from cases.validation import FIELDS, JSON_FIELDS, TAG_SEPARATOR
from mleval_site import jsonsafe

KEYED = ("input_data", "metadata")  # from one or several columns
REQUIRED_COLUMNS = ("input_data", "ground_truth")  # from columns, never one value for all
REQUIRED = ("input_data", "ground_truth", "input_type", "output_type")
VALUE_FIELDS = tuple(f for f in FIELDS if f not in (*JSON_FIELDS, "external_id"))
OPTIONS = ("values", "json_columns", "tag_separator")
# The key a bare ground truth goes under, per output type (cases.ground_truth's shapes).
GROUND_TRUTH_KEYS = {
    "classification": "label",
    "multilabel": "labels",
    "regression": "value",
    "text": "text",
    "bounding_boxes": "boxes",
    "ranking": "relevant",
    "forecast": "values",
}
_STRING_FIELDS = ("input_type", "input_format", "output_type", "model_type", "category")


class MappingError(ValueError):
    """A mapping that cannot be used: every problem, one message each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class Source:
    """Where a keyed field's part comes from: a column, under a key (None: named by the column,
    or the whole field when it is the only one and its value is an object)."""

    column: str
    key: str | None = None


@dataclass
class ColumnMapping:
    columns: dict[str, str] = field(default_factory=dict)  # field → column
    keyed: dict[str, list[Source]] = field(default_factory=dict)  # input_data, metadata
    values: dict[str, Any] = field(default_factory=dict)  # field → one value for every row
    json_columns: frozenset[str] = frozenset()
    tag_separator: str = TAG_SEPARATOR
    _source_columns: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    # ---- building one -----------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any) -> ColumnMapping:
        """The mapping a JSON object describes (the module's docstring); MappingError lists
        every problem."""
        if not isinstance(data, Mapping):
            raise MappingError([f"a mapping is a JSON object, got {json_type(data)}"])
        errors: list[str] = []
        mapping = cls()
        for name, spec in data.items():
            if name in OPTIONS:
                continue
            if name not in FIELDS:
                errors.append(f"{name}: not a case field (a mapping names {', '.join(FIELDS)})")
            elif name in KEYED:
                mapping.keyed[name] = _sources(name, spec, errors)
            elif isinstance(spec, str) and spec.strip():
                mapping.columns[name] = spec
            else:
                errors.append(f"{name}: give a column name, got {json.dumps(spec)[:60]}")
        values = data.get("values") or {}
        if not isinstance(values, Mapping):
            errors.append(f"values: must be an object of field: value, got {json_type(values)}")
            values = {}
        for name, value in values.items():
            if name not in VALUE_FIELDS:
                errors.append(
                    f"values.{name}: a value for every row can be given to "
                    f"{', '.join(VALUE_FIELDS)}"
                )
            else:
                mapping.values[name] = value
        json_columns = data.get("json_columns") or []
        if not isinstance(json_columns, list) or not all(isinstance(c, str) for c in json_columns):
            errors.append("json_columns: must be a list of column names")
        else:
            mapping.json_columns = frozenset(json_columns)
        separator = data.get("tag_separator", TAG_SEPARATOR)
        if not isinstance(separator, str) or not separator:
            errors.append("tag_separator: must be a non-empty string")
        else:
            mapping.tag_separator = separator
        errors.extend(mapping.problems())
        if errors:
            raise MappingError(errors)
        return mapping

    @classmethod
    def from_options(
        cls,
        maps: Iterable[str] = (),
        values: Iterable[str] = (),
        json_columns: Iterable[str] = (),
        base: Mapping | None = None,
    ) -> ColumnMapping:
        """The command's flags on top of a JSON mapping (`base`): `FIELD=COLUMN` (repeat
        `input_data=COLUMN` for several columns, `input_data.KEY=COLUMN` to name the key),
        `FIELD=VALUE` for values, and JSON columns."""
        data: dict[str, Any] = {key: value for key, value in (base or {}).items()}
        data["values"] = dict(data.get("values") or {})
        data["json_columns"] = list(data.get("json_columns") or [])
        errors = []
        flagged: set[str] = set()
        for item in maps:
            target, sep, column = item.partition("=")
            name, dot, key = target.strip().partition(".")
            if not sep or not column or not name or (dot and not key):
                errors.append(f"--map {item!r}: write FIELD=COLUMN (or input_data.KEY=COLUMN)")
                continue
            if name in KEYED:
                if name not in flagged:  # the flags replace the file's sources of the field
                    data[name], flagged = [], flagged | {name}
                data[name].append((key or None, column))
            elif dot:
                errors.append(f"--map {item!r}: only input_data and metadata take a .KEY")
            else:
                data[name] = column
            data["values"].pop(name, None)
        for item in values:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                errors.append(f"--value {item!r}: write FIELD=VALUE")
                continue
            name = name.strip()
            data["values"][name] = _value_from_text(name, value)
            data.pop(name, None)
        for name in flagged:  # a list of columns, or an object when a key is named
            parts = data[name]
            if all(key is None for key, _ in parts):
                data[name] = [column for _, column in parts]
            else:
                data[name] = {key or column: column for key, column in parts}
        data["json_columns"] += [c for c in json_columns if c not in data["json_columns"]]
        if errors:
            raise MappingError(errors)
        return cls.from_json(data)

    @classmethod
    def identity(cls, columns: Iterable[str]) -> tuple[ColumnMapping, list[tuple[str, str]]]:
        """A table whose columns are named as the case fields (e.g. mleval's Parquet export):
        each field from its column, JSON fields parsed from text. Returns the mapping and the
        (column, message) problems with the columns (unknown, required missing)."""
        from cases.validation import IGNORED, unknown_field_message

        columns = list(columns)
        problems = [(c, unknown_field_message()) for c in columns if c not in (*FIELDS, *IGNORED)]
        missing = "required column missing; name the columns' fields with a mapping"
        problems += [(f, missing) for f in REQUIRED if f not in columns]
        mapping = cls(
            columns={f: f for f in FIELDS if f in columns and f not in KEYED},
            keyed={f: [Source(f)] for f in KEYED if f in columns},
            json_columns=frozenset(f for f in JSON_FIELDS if f in columns),
        )
        return mapping, problems

    def problems(self) -> list[str]:
        """What makes this mapping unusable whatever the file: required fields unmapped."""
        errors = []
        for name in REQUIRED:
            mapped = name in self.columns or self.keyed.get(name)
            if name in REQUIRED_COLUMNS and not mapped:
                errors.append(f"{name}: map at least one column to it (required)")
            elif not mapped and name not in self.values:
                errors.append(f"{name}: map a column to it or give a value (required)")
        for name, value in self.values.items():
            if name in self.columns:
                errors.append(f"{name}: both a column and a value; keep one")
            elif name == "is_verified" and type(value) is not bool:
                errors.append(f"values.{name}: must be true or false, got {json.dumps(value)}")
            elif name != "is_verified" and type(value) is not str:
                errors.append(f"values.{name}: must be a string, got {json_type(value)}")
        return errors

    def as_json(self) -> dict:
        data: dict[str, Any] = {}
        for name in FIELDS:
            if name in self.columns:
                data[name] = self.columns[name]
            elif name in self.keyed:
                sources = self.keyed[name]
                if all(source.key is None for source in sources):
                    data[name] = [source.column for source in sources]
                else:
                    data[name] = {source.key or source.column: source.column for source in sources}
        if self.values:
            data["values"] = dict(self.values)
        if self.json_columns:
            data["json_columns"] = sorted(self.json_columns)
        if self.tag_separator != TAG_SEPARATOR:
            data["tag_separator"] = self.tag_separator
        return data

    # ---- using one ----------------------------------------------------------------------

    def source_columns(self) -> list[str]:
        """Every column the mapping reads, in field order (each once)."""
        if self._source_columns is None:
            self._source_columns = self._columns_read()
        return self._source_columns

    def _columns_read(self) -> list[str]:
        names = [*self.columns.values()]
        for sources in self.keyed.values():
            names.extend(source.column for source in sources)
        return list(dict.fromkeys(names))

    def labels(self) -> dict[str, str]:
        """How an error names a field: with the column(s) it came from."""
        labels = {name: f"{name} (column {column})" for name, column in self.columns.items()}
        for name, sources in self.keyed.items():
            columns = ", ".join(source.column for source in sources)
            labels[name] = f"{name} (column{'s' if len(sources) > 1 else ''} {columns})"
        return labels

    def record(self, row: Mapping[str, Any], add_error) -> dict | None:
        """The case record of one row ({column: value}); None after reporting, through
        `add_error(field, message)`, every cell that cannot be read."""
        cells: dict[str, Any] = {}
        failed = False
        for column in self.source_columns():
            value, problem = self._cell(column, row.get(column))
            if problem:
                for name in self._fields_of(column):
                    several = len(self.keyed.get(name, ())) > 1  # the report names one
                    add_error(name, f"column {column!r}: {problem}" if several else problem)
                failed = True
            cells[column] = value
        if failed:
            return None
        record: dict[str, Any] = dict(self.values)
        for name, sources in self.keyed.items():
            record[name] = _keyed_value(sources, cells)
        output_type = record.get("output_type", cells.get(self.columns.get("output_type", "")))
        for name, column in self.columns.items():
            value = cells[column]
            if value is None:
                continue
            if name == "ground_truth":
                value, problem = ground_truth_value(value, output_type, self.tag_separator)
            else:
                value, problem = _field_value(name, value, self.tag_separator)
            if problem:
                add_error(name, problem)
                failed = True
            record[name] = value
        return None if failed else record

    def _cell(self, column: str, value: Any) -> tuple[Any, str]:
        if isinstance(value, ValueError):  # cases.parquet's UnstorableValue
            return None, str(value)
        if isinstance(value, str) and value == "":
            return None, ""  # an empty cell: the field's default
        if column in self.json_columns and isinstance(value, str):
            try:
                return jsonsafe.decode(value), ""
            except ValueError as error:
                return None, f"not valid JSON: {json_problem(error)} of the cell"
        return value, ""

    def _fields_of(self, column: str) -> list[str]:
        names = [name for name, c in self.columns.items() if c == column]
        names += [
            n for n, sources in self.keyed.items() if any(s.column == column for s in sources)
        ]
        return names


def _sources(name: str, spec: Any, errors: list[str]) -> list[Source]:
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, list) and spec and all(isinstance(c, str) and c for c in spec):
        return [Source(column) for column in dict.fromkeys(spec)]
    if isinstance(spec, Mapping) and spec and all(isinstance(c, str) and c for c in spec.values()):
        return [Source(column, key) for key, column in spec.items()]
    errors.append(
        f"{name}: give a column, a list of columns or an object of key: column, "
        f"got {json.dumps(spec)[:60]}"
    )
    return []


def _keyed_value(sources: list[Source], cells: Mapping[str, Any]) -> Any:
    if len(sources) == 1 and sources[0].key is None:
        value = cells[sources[0].column]
        if isinstance(value, dict) or value is None:
            return value
    return {source.key or source.column: cells[source.column] for source in sources}


def ground_truth_value(value: Any, output_type: Any, separator: str) -> tuple[Any, str]:
    """A ground truth cell in its output type's shape; (value, "") or (None, why not)."""
    if isinstance(value, dict):
        return value, ""
    if isinstance(value, str):
        if output_type == "regression":
            number = _number(value)
            if number is None:
                return None, f"{value!r} is not a number"
            value = number
        elif output_type == "multilabel":
            value = [label.strip() for label in value.split(separator) if label.strip()]
    key = GROUND_TRUTH_KEYS.get(output_type) if isinstance(output_type, str) else None
    if key == "text" and isinstance(value, list):
        key = "texts"
    return ({key: value} if key else value), ""


def _field_value(name: str, value: Any, separator: str) -> tuple[Any, str]:
    """A cell as the case field's type, where the cell's own type differs in an obvious way."""
    if name == "tags" and isinstance(value, str):
        return [tag.strip() for tag in value.split(separator) if tag.strip()], ""
    if name == "is_verified" and isinstance(value, str):
        verified = BOOLEANS.get(value.strip().lower())
        return verified, "" if verified is not None else f"must be true or false, got {value!r}"
    if name == "external_id" and isinstance(value, float) and value.is_integer():
        return int(value), ""  # a Parquet integer column with nulls arrives as float64
    if name in _STRING_FIELDS and type(value) is int:
        return str(value), ""
    return value, ""


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer() and "." not in text and "e" not in text.lower():
        return int(number)
    return number


def _value_from_text(name: str, text: str) -> Any:
    """A --value given on the command line: is_verified as a boolean, the rest as text."""
    if name == "is_verified":
        verified = BOOLEANS.get(text.strip().lower())
        return text if verified is None else verified
    return text
