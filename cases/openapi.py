"""The case API's request schemas, written to match `cases.validation` and `cases.ground_truth`.

The validator is hand-written (it is the import's), so its rules are described here by hand;
tests/api/test_schema.py (schemathesis, every check) fails when the two disagree.
"""

from cases import ground_truth, shapes, validation
from cases.filters import IDS_PATTERN, SORT_CHOICES, TestCaseFilterSet
from cases.models import Difficulty, Origin, Scope
from mleval_site.api_schema import (
    NO_NUL,
    json_object,
    json_value,
    nullable,
    register,
    required_body,
    text,
)

SLUG = r"^[-a-zA-Z0-9_]+$"
# What Python's str.strip() (and so Django's form fields) take for whitespace, spelled out:
# a pattern's \s means another set in JSON Schema (ECMA-262: U+FEFF, not U+001C-U+001F, U+0085).
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WS = f"[{_WS}]"
NUMBER = {"type": "number"}


def _slug(max_length: int, *, blank: bool) -> dict:
    slug = {"type": "string", "pattern": SLUG, "maxLength": max_length}
    return nullable({"anyOf": [slug, {"const": ""}]}) if blank else slug


def _keyed(key: str, schema: dict, *, bare: dict | None = None, **extra) -> dict:
    """`{key: schema, ...}` (other keys any JSON), or the bare form when there is one."""
    keyed = {
        "allOf": [json_object(), {"required": [key], "properties": {key: schema}, **extra}],
    }
    return {"anyOf": [bare, keyed]} if bare else keyed


def _list(items: dict, min_items: int = 0) -> dict:
    return {"type": "array", "items": items, **({"minItems": min_items} if min_items else {})}


ITEM_ID = {"anyOf": [text(), {"type": "integer"}]}
BOX = {
    "allOf": [
        json_object(),
        {
            "required": ["bbox"],
            "properties": {
                "label": nullable(text()),
                "bbox": {**_list(NUMBER), "minItems": 4, "maxItems": 4},
            },
        },
    ],
    "description": "bbox is [x1, y1, x2, y2] with x2 >= x1 and y2 >= y1.",
}
RELEVANCE = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": {"type": "number", "minimum": 0, "maximum": shapes.MAX_RELEVANCE_GRADE},
    "not": {"additionalProperties": {"maximum": 0}},  # some grade above 0 (and not empty)
}
# The ground truth each output type needs (cases.ground_truth.OUTPUT_TYPE_NEEDS); others: any JSON.
GROUND_TRUTH = {
    "classification": _keyed("label", text(), bare=text()),
    "multilabel": _keyed("labels", _list(text()), bare=_list(text())),
    "regression": _keyed("value", NUMBER, bare=NUMBER),
    "text": {
        "anyOf": [
            text(),
            _list(text(), 1),
            _keyed("texts", _list(text(), 1)),
            _keyed("text", text(), **{"not": {"required": ["texts"]}}),
        ]
    },
    "bounding_boxes": _keyed("boxes", _list(BOX), bare=_list(BOX)),
    "ranking": {
        "anyOf": [
            _list(ITEM_ID, 1),
            _keyed("relevance", RELEVANCE),
            _keyed("relevant", _list(ITEM_ID, 1), **{"not": {"required": ["relevance"]}}),
        ]
    },
    "forecast": _keyed("values", _list(NUMBER, 1), bare=_list(NUMBER, 1)),
}
assert set(GROUND_TRUTH) == set(ground_truth.OUTPUT_TYPE_NEEDS), (
    "describe every output type's shape"
)

_TAG_END = rf"[^{_WS},;\x00]"
_ID_END = rf"[^{_WS}\x00]"
TAG = {  # cases.validation.tag_problem: 1-50 characters once stripped, no ',' or ';'
    "type": "string",
    "pattern": rf"^{WS}*{_TAG_END}(?:[^,;\x00]{{0,{validation.MAX_TAG - 2}}}{_TAG_END})?{WS}*$",
}
EXTERNAL_ID = {
    "anyOf": [
        {"type": "null"},
        {"type": "integer"},
        {"const": ""},
        {
            "type": "string",
            "pattern": rf"^{_ID_END}(?:[^\x00]{{0,{validation.MAX_EXTERNAL_ID - 2}}}{_ID_END})?$",
        },
    ]
}

CASE_PROPERTIES = {
    "input_data": json_object(description="The model's input."),
    "input_type": _slug(validation.SLUG_FIELDS["input_type"], blank=False),
    "input_format": _slug(validation.SLUG_FIELDS["input_format"], blank=True),
    "ground_truth": json_value(description="The expected output; its shape per output_type."),
    "output_type": _slug(validation.SLUG_FIELDS["output_type"], blank=False),
    "model_type": _slug(validation.SLUG_FIELDS["model_type"], blank=True),
    "category": nullable(text(maxLength=validation.MAX_CATEGORY)),
    "tags": nullable(_list(TAG)),
    "difficulty": nullable({"enum": [*Difficulty.values, ""]}),
    "origin": nullable({"enum": Origin.values}),
    "is_verified": nullable(
        {"type": "boolean", "description": "Default: true for human cases, false otherwise."}
    ),
    "metadata": nullable(json_object()),
    "external_id": EXTERNAL_ID,
    **{name: json_value(description="Ignored.") for name in validation.IGNORED},
}
# The ground truth's shape follows output_type: one variant per known output type, and one
# for every other output type (any JSON). (`if`/`then` would say it shorter; schemathesis
# cannot generate from it.)
SHAPE_VARIANTS = [
    {"properties": {"output_type": {"const": kind}, "ground_truth": shape}}
    for kind, shape in GROUND_TRUTH.items()
]
SHAPE_VARIANTS.append({"properties": {"output_type": {"not": {"enum": list(GROUND_TRUTH)}}}})
CASE_INPUT = register(
    "CaseInput",
    {
        "type": "object",
        "properties": CASE_PROPERTIES,
        "additionalProperties": False,
        "anyOf": SHAPE_VARIANTS,
    },
)
# null is "missing" for the validator: required fields must be present and not null.
NOT_NULL = {name: {"not": {"type": "null"}} for name in validation.REQUIRED if name != "input_data"}
CASE_CREATE = register(
    "CaseCreate",
    {"allOf": [CASE_INPUT, {"required": list(validation.REQUIRED), "properties": NOT_NULL}]},
)
CASE_CREATE_BODY = required_body(
    {"anyOf": [CASE_CREATE, {"type": "array", "items": CASE_CREATE, "minItems": 1}]}
)
# PATCH merges over the stored case, so nothing is required, but required fields stay non-null.
# The shape is checked against the output type, so a PATCH sends both or neither.
TOGETHER = {"ground_truth": ["output_type"], "output_type": ["ground_truth"]}
CASE_PATCH_BODY = required_body(
    {"allOf": [CASE_INPUT, {"properties": NOT_NULL, "dependentRequired": TOGETHER}]}
)

# --- the case filters, as query parameters and as a run's `selection` object -------------
JSON_CONDITION = f"^{WS}*$|^[^=\\x00]*[^={_WS}\\x00][^=\\x00]*=[^\\x00]*$"  # parse_json_condition
IDS = f"^{IDS_PATTERN}$"
CASE_ID = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}
CHOICES = {
    "scope": Scope.values,
    "difficulty": Difficulty.values,
    "origin": Origin.values,
    "json_in": [name for name, _ in TestCaseFilterSet.base_filters["json_in"].extra["choices"]],
    "sort": [value for value, _ in SORT_CHOICES],
}
DATE = {"type": "string", "format": "date"}
# is_verified as cases.filters.YesNoField reads it ("" and "unknown": no filter).
YES_NO = ["", "unknown", "true", "True", "1", "yes", "on", "false", "False", "0", "no", "off"]


def filter_schema(name: str) -> dict:
    """One case filter's value, as a run's selection holds it (JSON types as the API checks)."""
    if name in CHOICES:
        return nullable({"enum": [*CHOICES[name], ""]})
    if name in ("tags", "tags_all"):
        return nullable({"anyOf": [text(), _list(text())]})
    if name == "ids":
        return nullable({"anyOf": [{"type": "string", "pattern": IDS}, _list(CASE_ID)]})
    if name == "is_verified":
        return nullable({"anyOf": [{"type": "boolean"}, {"enum": YES_NO}]})
    if name in ("created_after", "created_before"):
        return nullable({"anyOf": [DATE, {"const": ""}]})
    if name == "json":
        return nullable({"type": "string", "pattern": JSON_CONDITION})
    return nullable(text())


SELECTION = register(
    "CaseSelection",
    {
        "type": "object",
        "description": "The case list's filters (as on /cases/ and /api/v1/cases/); default: the "
        "golden set of the run's model_type. Fixed when the run is registered.",
        "properties": {name: filter_schema(name) for name in TestCaseFilterSet.base_filters},
        "additionalProperties": False,
    },
)
