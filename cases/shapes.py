"""JSON shapes of ground truth and model output, per output_type.

This is the one module that knows them: the case form (app ``cases``) checks a
curator's ground truth with :func:`cases.ground_truth.ground_truth_errors`, built on these
coercers, and the evaluators (app ``evaluations``) read both sides with the ``coerce_*``
functions. Keeping both on the same functions means a ground truth the form accepts is one the
evaluators can score. Pure Python, no Django: ``cases`` must not import ``evaluations``, and the
evaluators must stay usable without a database.

Each coercer accepts the canonical shape (``{"label": "cat"}``) and the obvious
bare form (``"cat"``) and raises :class:`ShapeError` naming the missing or
wrong key for anything else. They never mutate their input.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

__all__ = [
    "Box",
    "ShapeError",
    "coerce_boxes",
    "coerce_confidence",
    "coerce_scores",
    "canonical_label",
    "coerce_label",
    "coerce_labels",
    "coerce_number",
    "coerce_ranking",
    "coerce_relevance",
    "coerce_series",
    "coerce_text",
    "coerce_texts",
    "finite_number",
    "json_type",
]

# Grades above this would make the NDCG gain 2**grade - 1 astronomically large
# (and overflow a float past 1023); real graded relevance uses 0-4 or so.
MAX_RELEVANCE_GRADE = 100


class ShapeError(ValueError):
    """A JSON value does not have the shape its output_type needs."""


class Box(NamedTuple):
    """One bounding box; ``label`` is None when the box carries no label."""

    label: str | None
    x1: float
    y1: float
    x2: float
    y2: float


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages a curator understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _unwrap(value: Any, key: str, bare: str) -> Any:
    """Return ``value[key]`` for an object, or ``value`` itself for a bare form.

    ``bare`` describes the bare form in the message; the caller checks its type.
    """
    if type(value) is dict:
        if key not in value:
            raise ShapeError(f'missing key "{key}" (expected {{"{key}": ...}} or {bare})')
        return value[key]
    return value


def finite_number(value: Any, what: str) -> float:
    """A finite float from a JSON number; bools, strings, NaN and inf are refused."""
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise ShapeError(f"{what} must be a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ShapeError(f"{what} is too large to be a number") from None
    if isinstance(value, float):  # float subclasses
        return finite_number(float(value), what)
    raise ShapeError(f"{what} must be a number, got {json_type(value)}")


def _string_list(value: Any, key: str) -> list[str]:
    if type(value) is not list:
        raise ShapeError(f'"{key}" must be an array of strings, got {json_type(value)}')
    for i, item in enumerate(value):
        if type(item) is not str:
            raise ShapeError(f'"{key}"[{i}] must be a string, got {json_type(item)}')
    return value


def canonical_label(value: Any) -> str | None:
    """A label as compared and counted: a string as it is, an integer as its digits, a
    boolean as "true"/"false" (scikit-learn and MLflow classifiers predict 3 or True); None
    for anything else (a float, an object: not a label)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return None


def coerce_label(value: Any) -> str:
    """The label of ``{"label": "cat"}`` or a bare ``"cat"`` (or 3, or true: see
    canonical_label), as its canonical string."""
    if type(value) is dict:
        if "label" not in value:
            raise ShapeError(
                'missing key "label" (expected {"label": "..."}, a string, integer or boolean)'
            )
        label = canonical_label(value.get("label"))
        if label is not None:
            return label
        raise ShapeError(
            f'"label" must be a string, integer or boolean, got {json_type(value.get("label"))}'
        )
    label = canonical_label(value)
    if label is not None:
        return label
    raise ShapeError(
        f'expected {{"label": "..."}}, a string, integer or boolean, got {json_type(value)}'
    )


def coerce_confidence(value: Any) -> float | None:
    """The optional ``confidence`` next to a label; None when absent.

    Raises ShapeError when present but not a finite number, so the caller
    decides whether a bad confidence matters (label_match ignores it).
    """
    if type(value) is not dict or value.get("confidence") is None:
        return None
    return finite_number(value["confidence"], '"confidence"')


#: How far a distribution's probabilities may sum from 1 (float32 models' rounding).
SCORES_SUM_TOLERANCE = 1e-6


def coerce_scores(value: Any) -> dict[str, float] | None:
    """The optional ``scores`` next to a label (``{"spam": 0.93, "ham": 0.07}``: a
    probability per label, as ``predict_proba`` gives), keys as canonical labels; None when
    absent. ShapeError when it is not an object of at least one label, a value is not a
    number in [0, 1], or they do not sum to 1 (within SCORES_SUM_TOLERANCE)."""
    if type(value) is not dict or value.get("scores") is None:
        return None
    scores = value["scores"]
    if type(scores) is not dict or not scores:
        raise ShapeError(
            f'"scores" must be an object of label: probability, got {json_type(scores)}'
            if type(scores) is not dict
            else '"scores" must name at least one label'
        )
    result = {}
    for label, probability in scores.items():
        number = finite_number(probability, f'"scores"["{label}"]')
        if not 0.0 <= number <= 1.0:
            raise ShapeError(f'"scores"["{label}"] must be a probability in [0, 1], got {number:g}')
        result[label] = number
    total = math.fsum(result.values())
    if abs(total - 1.0) > SCORES_SUM_TOLERANCE:
        raise ShapeError(f'"scores" must sum to 1, got {total:.6g}')
    return result


def coerce_labels(value: Any) -> list[str]:
    """The labels of ``{"labels": [...]}`` or a bare list, each a string, integer or boolean,
    as canonical strings."""
    labels = _unwrap(value, "labels", "an array of labels")
    if type(labels) is not list:
        raise ShapeError(f'"labels" must be an array of labels, got {json_type(labels)}')
    result = []
    for i, item in enumerate(labels):
        label = canonical_label(item)
        if label is None:
            raise ShapeError(
                f'"labels"[{i}] must be a string, integer or boolean, got {json_type(item)}'
            )
        result.append(label)
    return result


def coerce_number(value: Any, key: str = "value") -> float:
    """The number of ``{key: 3.2}`` or a bare ``3.2``; finite numbers only."""
    return finite_number(_unwrap(value, key, "a number"), f'"{key}"')


def coerce_text(value: Any) -> str:
    """The text of ``{"text": "..."}`` or a bare string."""
    if type(value) is dict:
        text = value.get("text")
        if type(text) is str:
            return text
        if "text" not in value:
            raise ShapeError('missing key "text" (expected {"text": "..."} or a string)')
        raise ShapeError(f'"text" must be a string, got {json_type(text)}')
    if type(value) is str:
        return value
    raise ShapeError(f'expected {{"text": "..."}} or a string, got {json_type(value)}')


def coerce_texts(value: Any) -> list[str]:
    """One or more reference texts: ``{"texts": [...]}``, ``{"text": ...}``, str or list.

    Always at least one text, so every text metric has a reference to compare to.
    """
    if type(value) is dict and "texts" in value:
        texts = _string_list(value["texts"], "texts")
    elif type(value) is list:
        texts = _string_list(value, "texts")
    else:
        return [coerce_text(value)]
    if not texts:
        raise ShapeError('"texts" must hold at least one string')
    return texts


def coerce_boxes(value: Any) -> list[Box]:
    """The boxes of ``{"boxes": [{"label", "bbox": [x1, y1, x2, y2]}]}`` or a bare list.

    ``label`` may be omitted (class-agnostic boxes); such boxes only match
    other unlabelled boxes.
    """
    boxes = _unwrap(value, "boxes", "an array of boxes")
    if type(boxes) is not list:
        raise ShapeError(f'"boxes" must be an array, got {json_type(boxes)}')
    result = []
    for i, box in enumerate(boxes):
        if type(box) is not dict:
            raise ShapeError(
                f'box {i} must be an object {{"label": ..., "bbox": [...]}}, got {json_type(box)}'
            )
        label = box.get("label")
        if label is not None:
            if (canonical := canonical_label(label)) is None:
                raise ShapeError(
                    f'box {i} "label" must be a string, integer or boolean, got {json_type(label)}'
                )
            label = canonical
        if "bbox" not in box:
            raise ShapeError(f'box {i} is missing key "bbox" ([x1, y1, x2, y2])')
        bbox = box["bbox"]
        if type(bbox) is not list or len(bbox) != 4:
            raise ShapeError(f'box {i} "bbox" must be an array of 4 numbers [x1, y1, x2, y2]')
        x1, y1, x2, y2 = (finite_number(c, f'box {i} "bbox" coordinate') for c in bbox)
        if x2 < x1 or y2 < y1:
            raise ShapeError(f'box {i} "bbox" must have x2 >= x1 and y2 >= y1, got {bbox}')
        result.append(Box(label, x1, y1, x2, y2))
    return result


def _item_id(item: Any, where: str) -> str:
    """Item ids are compared as strings, so 17 and "17" name the same item."""
    if type(item) is str:
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item)
    raise ShapeError(f"{where} must be a string or integer id, got {json_type(item)}")


def coerce_ranking(value: Any) -> list[str]:
    """The item ids of ``{"ranking": [...]}`` or a bare list, best first, as strings."""
    ranking = _unwrap(value, "ranking", "an array of item ids")
    if type(ranking) is not list:
        raise ShapeError(f'"ranking" must be an array of item ids, got {json_type(ranking)}')
    return [_item_id(item, f'"ranking"[{i}]') for i, item in enumerate(ranking)]


def coerce_relevance(value: Any) -> dict[str, float]:
    """Graded relevance by item id (as string).

    ``{"relevant": [ids]}`` (or a bare list) gives each id grade 1;
    ``{"relevance": {id: grade}}`` gives graded relevance, grades in
    [0, MAX_RELEVANCE_GRADE].
    """
    if type(value) is dict and "relevance" in value:
        grades = value["relevance"]
        if type(grades) is not dict:
            raise ShapeError(
                f'"relevance" must be an object {{item_id: grade}}, got {json_type(grades)}'
            )
        result = {}
        for item, grade in grades.items():
            g = finite_number(grade, f'"relevance" grade of "{item}"')
            if not 0 <= g <= MAX_RELEVANCE_GRADE:
                raise ShapeError(
                    f'"relevance" grade of "{item}" must be between 0 and '
                    f"{MAX_RELEVANCE_GRADE}, got {g:g}"
                )
            result[str(item)] = g
        return result
    if type(value) is dict and "relevant" not in value:
        raise ShapeError(
            'missing key "relevant" (an array of item ids) or "relevance" ({item_id: grade})'
        )
    relevant = value["relevant"] if type(value) is dict else value
    if type(relevant) is not list:
        raise ShapeError(f'"relevant" must be an array of item ids, got {json_type(relevant)}')
    return {_item_id(item, f'"relevant"[{i}]'): 1.0 for i, item in enumerate(relevant)}


def coerce_series(value: Any, key: str = "values") -> list[float]:
    """The numbers of ``{key: [...]}`` or a bare list; at least one, all finite."""
    series = _unwrap(value, key, "an array of numbers")
    if type(series) is not list:
        raise ShapeError(f'"{key}" must be an array of numbers, got {json_type(series)}')
    if not series:
        raise ShapeError(f'"{key}" must hold at least one number')
    return [finite_number(v, f'"{key}"[{i}]') for i, v in enumerate(series)]
