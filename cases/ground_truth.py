"""What a case's ground truth must be to be scored: the shape its output_type needs
(OUTPUT_TYPE_NEEDS, read with the cases.shapes coercers the evaluators use too) and a
well-formed ``"assert"`` list for the ``assertions`` evaluator.

The case validator (form, API, importer), the case editor's hints and the evaluation pipeline
all ask :func:`ground_truth_errors`, so a ground truth they accept is one the evaluators can
score. Pure Python, no Django, like cases.shapes.
"""

from __future__ import annotations

import re
from typing import Any

from cases.shapes import (
    ShapeError,
    coerce_boxes,
    coerce_label,
    coerce_labels,
    coerce_number,
    coerce_relevance,
    coerce_series,
    coerce_texts,
    finite_number,
    json_type,
)

__all__ = ["ASSERTION_TYPES", "OUTPUT_TYPE_NEEDS", "assertion_errors", "ground_truth_errors"]


def _ranking_ground_truth(value: Any) -> None:
    grades = coerce_relevance(value)
    if not any(g > 0 for g in grades.values()):
        raise ShapeError("no item has a relevance grade above 0, so NDCG is undefined")


# What each output_type's ground truth needs, in a curator's words, and the
# function that checks it. Output types not listed here accept anything.
OUTPUT_TYPE_NEEDS: dict[str, tuple[str, Any]] = {
    "classification": ('"label" (a string, integer or boolean)', coerce_label),
    "multilabel": ('"labels" (an array of strings, integers or booleans)', coerce_labels),
    "regression": ('"value" (a number)', coerce_number),
    "text": ('"text" (a string) or "texts" (an array of strings)', coerce_texts),
    "bounding_boxes": (
        '"boxes" (an array of {"label": string, "bbox": [x1, y1, x2, y2]})',
        coerce_boxes,
    ),
    "ranking": (
        '"relevant" (an array of item ids) or "relevance" ({item_id: grade})',
        _ranking_ground_truth,
    ),
    "forecast": ('"values" (an array of numbers)', coerce_series),
}


# The per-case checks of the ``assertions`` evaluator (ground truth ``"assert"``): each type
# with a description of the "value" it needs. The evaluator and the case editor both use
# assertion_errors, so an "assert" list the editor accepts is one the evaluator can score.
ASSERTION_TYPES: dict[str, str] = {
    "contains": "a non-empty string",
    "not_contains": "a non-empty string",
    "icontains": "a non-empty string",
    "regex": "a Python regular expression",
    "equals": "any JSON value",
    "json_schema": "a JSON Schema (an object or a boolean)",
    "numeric": "a number",
    "llm_rubric": "a non-empty string (the criterion a judge checks)",
}
_ASSERTION_KEYS = {"type", "value", "weight", "tolerance"}


def _assertion_item_error(item: Any) -> str | None:
    if type(item) is not dict:
        return f'must be an object {{"type", "value"}}, got {json_type(item)}'
    unknown = sorted(set(item) - _ASSERTION_KEYS)
    if unknown:
        return f'unknown key "{unknown[0]}" (allowed: type, value, weight, tolerance)'
    kind = item.get("type")
    if kind not in ASSERTION_TYPES:
        return f'"type" must be one of {", ".join(ASSERTION_TYPES)}, got {kind!r}'
    if "value" not in item:
        return f'missing "value" ({ASSERTION_TYPES[kind]})'
    value = item["value"]
    if "weight" in item:
        try:
            if finite_number(item["weight"], '"weight"') < 0:
                return '"weight" must be >= 0'
        except ShapeError as exc:
            return str(exc)
    if "tolerance" in item and kind != "numeric":
        return '"tolerance" applies to type numeric only'
    if kind in ("contains", "not_contains", "icontains", "llm_rubric", "regex"):
        if type(value) is not str or not value:
            return f'"value" must be {ASSERTION_TYPES[kind]}, got {json_type(value)}'
        if kind == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                return f'"value" is not a valid regular expression: {exc}'
    elif kind == "json_schema" and type(value) not in (dict, bool):
        return f'"value" must be {ASSERTION_TYPES[kind]}, got {json_type(value)}'
    elif kind == "numeric":
        try:
            finite_number(value, '"value"')
            if finite_number(item.get("tolerance", 0), '"tolerance"') < 0:
                return '"tolerance" must be >= 0'
        except ShapeError as exc:
            return str(exc)
    return None


def assertion_errors(items: Any) -> list[str]:
    """Why a ground truth's ``"assert"`` list cannot be scored, one message per bad item."""
    if type(items) is not list:
        return [f'"assert" must be an array of {{"type", "value"}} objects, got {json_type(items)}']
    if not items:
        return ['"assert" must hold at least one assertion']
    errors = []
    for i, item in enumerate(items):
        error = _assertion_item_error(item)
        if error:
            errors.append(f'"assert"[{i}]: {error}')
    return errors


def ground_truth_errors(output_type: str, ground_truth: Any) -> list[str]:
    """Why a ground truth cannot be scored for its output_type; empty when it can.

    ``structured`` and unknown output types accept any JSON value. An ``"assert"`` list, for
    any output type, must be well formed (assertion_errors).
    """
    errors = []
    if type(ground_truth) is dict and "assert" in ground_truth:
        errors = [f"ground_truth {e}" for e in assertion_errors(ground_truth["assert"])]
    needs = OUTPUT_TYPE_NEEDS.get(output_type)
    if needs is None:
        return errors
    description, check = needs
    try:
        check(ground_truth)
    except ShapeError as exc:
        errors.append(f"ground_truth needs {description} for output_type {output_type}: {exc}")
    return errors
