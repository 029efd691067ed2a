"""The JSON shapes shared by the case form and the evaluators (cases/shapes.py) and the
ground-truth rule built on them (cases/ground_truth.py)."""

import copy
import math

import pytest

from cases.ground_truth import ground_truth_errors
from cases.shapes import (
    Box,
    ShapeError,
    coerce_boxes,
    coerce_confidence,
    coerce_label,
    coerce_labels,
    coerce_number,
    coerce_ranking,
    coerce_relevance,
    coerce_series,
    coerce_text,
    coerce_texts,
)

# --- labels ---------------------------------------------------------------------------


def test_label_canonical_and_bare():
    assert coerce_label({"label": "cat"}) == "cat"
    assert coerce_label({"label": "cat", "confidence": 0.3, "extra": [1]}) == "cat"
    assert coerce_label("cat") == "cat"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, 'missing key "label"'),
        ({"lable": "cat"}, 'missing key "label"'),
        ({"label": 3.5}, '"label" must be a string, integer or boolean, got number'),
        ({"label": None}, '"label" must be a string, integer or boolean, got null'),
        (None, "got null"),
        (["cat"], "got array"),
        (1.0, "got number"),
    ],
)
def test_label_errors_name_the_problem(value, message):
    with pytest.raises(ShapeError, match=message):
        coerce_label(value)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ({"label": 3}, "3"),
        ({"label": -1}, "-1"),
        ({"label": True}, "true"),
        ({"label": False}, "false"),
        (0, "0"),
        (True, "true"),
        ("3", "3"),
    ],
)
def test_scalar_labels_are_canonical_strings(value, label):
    """scikit-learn and MLflow classifiers predict integers and booleans."""
    assert coerce_label(value) == label
    assert coerce_labels([value if not isinstance(value, dict) else value["label"]]) == [label]


def test_confidence():
    assert coerce_confidence({"label": "a", "confidence": 0.8}) == 0.8
    assert coerce_confidence({"label": "a", "confidence": 1}) == 1.0
    assert coerce_confidence({"label": "a"}) is None
    assert coerce_confidence({"label": "a", "confidence": None}) is None
    assert coerce_confidence("a") is None
    for bad in ("high", math.nan, math.inf, True):
        with pytest.raises(ShapeError, match='"confidence"'):
            coerce_confidence({"label": "a", "confidence": bad})


def test_labels():
    assert coerce_labels({"labels": ["a", "b"]}) == ["a", "b"]
    assert coerce_labels(["a"]) == ["a"]
    assert coerce_labels([]) == []
    with pytest.raises(ShapeError, match='missing key "labels"'):
        coerce_labels({"label": "a"})
    with pytest.raises(ShapeError, match='"labels" must be an array'):
        coerce_labels({"labels": "a"})
    assert coerce_labels(["a", 2, True]) == ["a", "2", "true"]
    with pytest.raises(ShapeError, match=r'"labels"\[1\] must be a string, integer or boolean'):
        coerce_labels(["a", 2.5])
    with pytest.raises(ShapeError):
        coerce_labels("a")


# --- numbers --------------------------------------------------------------------------


def test_number():
    assert coerce_number({"value": 3.2}) == 3.2
    assert coerce_number(3.2) == 3.2
    value = coerce_number(3)
    assert value == 3.0 and type(value) is float
    assert coerce_number({"score": -1}, key="score") == -1.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number, got boolean"),
        ({"value": False}, "must be a number, got boolean"),
        (math.nan, "finite"),
        ({"value": math.inf}, "finite"),
        (-math.inf, "finite"),
        ("3.2", "must be a number, got string"),
        ({"value": None}, "got null"),
        ({"val": 3}, 'missing key "value"'),
        (10**400, "too large"),
        ([3.2], "got array"),
    ],
)
def test_number_rejects(value, message):
    with pytest.raises(ShapeError, match=message):
        coerce_number(value)


def test_series():
    assert coerce_series({"values": [1, 2.5]}) == [1.0, 2.5]
    assert coerce_series([0]) == [0.0]
    assert coerce_series({"forecast": [1]}, key="forecast") == [1.0]
    with pytest.raises(ShapeError, match="at least one"):
        coerce_series({"values": []})
    with pytest.raises(ShapeError, match=r'"values"\[1\] must be a finite number'):
        coerce_series([1, math.nan])
    with pytest.raises(ShapeError, match=r'"values"\[0\] must be a number, got string'):
        coerce_series(["1"])
    with pytest.raises(ShapeError, match='missing key "values"'):
        coerce_series({"value": [1]})


# --- text -----------------------------------------------------------------------------


def test_text():
    assert coerce_text({"text": "hi"}) == "hi"
    assert coerce_text("hi") == "hi"
    assert coerce_text("") == ""
    with pytest.raises(ShapeError, match='missing key "text"'):
        coerce_text({"answer": "hi"})
    with pytest.raises(ShapeError, match='"text" must be a string, got array'):
        coerce_text({"text": ["hi"]})
    with pytest.raises(ShapeError, match="got number"):
        coerce_text(1)


def test_texts_accepts_every_reference_form():
    assert coerce_texts({"texts": ["a", "b"]}) == ["a", "b"]
    assert coerce_texts({"text": "a"}) == ["a"]
    assert coerce_texts("a") == ["a"]
    assert coerce_texts(["a", "b"]) == ["a", "b"]
    with pytest.raises(ShapeError, match="at least one"):
        coerce_texts({"texts": []})
    with pytest.raises(ShapeError, match=r'"texts"\[0\] must be a string'):
        coerce_texts({"texts": [None]})


# --- boxes ----------------------------------------------------------------------------


def test_boxes_canonical_bare_and_unlabelled():
    boxes = coerce_boxes({"boxes": [{"label": "cat", "bbox": [1, 2, 3, 4]}]})
    assert boxes == [Box("cat", 1.0, 2.0, 3.0, 4.0)]
    assert coerce_boxes([{"label": "cat", "bbox": [0, 0, 0, 0]}]) == [Box("cat", 0, 0, 0, 0)]
    assert coerce_boxes([{"bbox": [0, 0, 1, 1]}]) == [Box(None, 0, 0, 1, 1)]
    assert coerce_boxes({"boxes": []}) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"box": []}, 'missing key "boxes"'),
        ({"boxes": {}}, '"boxes" must be an array'),
        (["cat"], "box 0 must be an object"),
        ([{"label": "cat"}], 'box 0 is missing key "bbox"'),
        ([{"label": "cat", "bbox": [1, 2, 3]}], "array of 4 numbers"),
        ([{"label": "cat", "bbox": "1,2,3,4"}], "array of 4 numbers"),
        ([{"label": 1.5, "bbox": [0, 0, 1, 1]}], 'box 0 "label" must be a string'),
        ([{"label": "a", "bbox": [0, 0, 1, math.nan]}], "finite"),
        ([{"label": "a", "bbox": [0, 0, 1, True]}], "got boolean"),
        ([{"bbox": [0, 0, 1, 1]}, {"bbox": [5, 0, 4, 1]}], "box 1 .*x2 >= x1"),
        ([{"bbox": [0, 3, 1, 1]}], "y2 >= y1"),
    ],
)
def test_boxes_errors(value, message):
    with pytest.raises(ShapeError, match=message):
        coerce_boxes(value)


# --- ranking --------------------------------------------------------------------------


def test_ranking_ids_become_strings():
    assert coerce_ranking({"ranking": ["a", 17]}) == ["a", "17"]
    assert coerce_ranking(["b", "b"]) == ["b", "b"]  # repeats are the evaluator's business
    assert coerce_ranking([]) == []
    with pytest.raises(ShapeError, match=r'"ranking"\[0\] must be a string or integer id'):
        coerce_ranking([True])
    with pytest.raises(ShapeError, match=r'"ranking"\[1\]'):
        coerce_ranking(["a", 1.5])
    with pytest.raises(ShapeError, match='missing key "ranking"'):
        coerce_ranking({"items": []})


def test_relevance_forms():
    assert coerce_relevance({"relevant": ["a", 17]}) == {"a": 1.0, "17": 1.0}
    assert coerce_relevance(["a"]) == {"a": 1.0}
    assert coerce_relevance({"relevance": {"a": 3, "b": 0, "c": 0.5}}) == {
        "a": 3.0,
        "b": 0.0,
        "c": 0.5,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"ranked": []}, 'missing key "relevant".*"relevance"'),
        ({"relevance": ["a"]}, '"relevance" must be an object'),
        ({"relevance": {"a": -1}}, "between 0 and 100"),
        ({"relevance": {"a": 1000}}, "between 0 and 100"),
        ({"relevance": {"a": "high"}}, "must be a number"),
        ({"relevant": "a"}, '"relevant" must be an array'),
        ({"relevant": [None]}, "string or integer id"),
    ],
)
def test_relevance_errors(value, message):
    with pytest.raises(ShapeError, match=message):
        coerce_relevance(value)


# --- ground_truth_errors --------------------------------------------------------------

VALID = {
    "classification": [{"label": "cat"}, "cat"],
    "multilabel": [{"labels": ["a", "b"]}, [], ["a"]],
    "regression": [{"value": 1.5}, 0],
    "text": [{"text": "x"}, {"texts": ["x", "y"]}, "x"],
    "bounding_boxes": [{"boxes": [{"label": "a", "bbox": [0, 0, 1, 1]}]}, []],
    "ranking": [{"relevant": ["d1"]}, {"relevance": {"d1": 2, "d2": 0}}],
    "forecast": [{"values": [1, 2, 3]}],
    "structured": [None, {"any": ["thing"]}, 3],
}


@pytest.mark.parametrize(
    ("output_type", "value"), [(t, v) for t, values in VALID.items() for v in values]
)
def test_valid_ground_truths_have_no_errors(output_type, value):
    assert ground_truth_errors(output_type, value) == []


def test_classification_message_is_clear():
    assert ground_truth_errors("classification", {"category": "cat"}) == [
        'ground_truth needs "label" (a string, integer or boolean) for output_type '
        'classification: missing key "label" (expected {"label": "..."}, a string, integer '
        "or boolean)"
    ]


@pytest.mark.parametrize(
    ("output_type", "value", "needs"),
    [
        ("multilabel", {"labels": "a"}, '"labels" (an array of strings, integers or booleans)'),
        ("regression", {"value": "1"}, '"value" (a number)'),
        ("regression", {"value": math.nan}, '"value" (a number)'),
        ("text", {"texts": []}, '"text" (a string) or "texts"'),
        ("bounding_boxes", {"boxes": [{"label": "a", "bbox": [0, 0]}]}, '"boxes"'),
        ("ranking", {"relevance": {"a": 0}}, '"relevant"'),
        ("ranking", {"relevant": []}, '"relevant"'),
        ("forecast", {"values": []}, '"values" (an array of numbers)'),
    ],
)
def test_invalid_ground_truths(output_type, value, needs):
    [message] = ground_truth_errors(output_type, value)
    assert message.startswith(f"ground_truth needs {needs}")
    assert f"for output_type {output_type}" in message


def test_ranking_ground_truth_needs_a_relevant_item():
    [message] = ground_truth_errors("ranking", {"relevance": {"a": 0, "b": 0}})
    assert "NDCG is undefined" in message


def test_unknown_output_type_accepts_anything():
    assert ground_truth_errors("audio", {"whatever": math.nan}) == []


def test_coercers_do_not_mutate_input():
    value = {"boxes": [{"label": "a", "bbox": [0, 0, 1, 1]}], "extra": {"x": [1]}}
    before = copy.deepcopy(value)
    coerce_boxes(value)
    ground_truth_errors("bounding_boxes", value)
    assert value == before


def test_scalar_label_ground_truths_are_valid():
    """Imports and the API refused {"label": 3} (an MLflow model's class index)."""
    assert ground_truth_errors("classification", {"label": 3}) == []
    assert ground_truth_errors("classification", {"label": True}) == []
    assert ground_truth_errors("multilabel", {"labels": [0, 2]}) == []
    assert ground_truth_errors("classification", {"label": 0.5}) != []
