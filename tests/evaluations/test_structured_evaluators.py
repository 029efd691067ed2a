"""exact_match and json_schema (evaluations/evaluators/structured.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import math

import pytest

from evaluations.evaluators import (
    EvaluatorConfigError,
    installed_evaluators,
    run_evaluator,
    validate_params,
)
from tests.evaluations.scoring import assert_error, run

# --- exact_match ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "truth", "equal"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),  # key order is irrelevant
        ({"a": 1}, {"a": 1.0}, True),  # 1 and 1.0 are the same JSON number
        ({"a": True}, {"a": 1}, False),  # true is not 1
        ([1, 2], [2, 1], False),  # arrays are ordered
        (None, None, True),
        ("x", "x", True),
        ({"a": None}, {}, False),
        ({"a": {"b": [0, {"c": "d"}]}}, {"a": {"b": [0, {"c": "d"}]}}, True),
        ({"a": {"b": [0, {"c": "d"}]}}, {"a": {"b": [0, {"c": "e"}]}}, False),
        (math.nan, math.nan, False),
    ],
)
def test_exact_match(output, truth, equal):
    verdict = run("exact_match", output, truth)
    assert verdict.score == (1.0 if equal else 0.0)
    assert verdict.passed is equal


# --- json_schema ----------------------------------------------------------------------

PERSON = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
}


def test_json_schema_from_ground_truth():
    valid = run("json_schema", {"name": "Ada", "age": 36}, {"schema": PERSON})
    assert (valid.score, valid.passed) == (1.0, True)
    assert valid.metrics["errors"] == []
    invalid = run("json_schema", {"name": "Ada", "age": "old"}, {"schema": PERSON})
    assert (invalid.score, invalid.passed) == (0.0, False)
    assert invalid.metrics["error_count"] == 1
    [message] = invalid.metrics["errors"]
    assert message.startswith("$.age: ")
    assert "integer" in message


def test_json_schema_from_params_and_capped_errors():
    schema = {"type": "array", "items": {"type": "integer"}}
    verdict = run("json_schema", ["a"] * 15, None, schema=schema)
    assert verdict.score == 0.0
    assert verdict.metrics["error_count"] == 15
    assert len(verdict.metrics["errors"]) == 10
    assert "15 errors" in verdict.feedback


def test_json_schema_bad_schemas():
    with pytest.raises(EvaluatorConfigError, match='"schema"'):
        validate_params("json_schema", {"schema": {"type": "nonsense"}})
    with pytest.raises(EvaluatorConfigError, match='"schema"'):
        validate_params("json_schema", {"schema": [1]})
    bad_truth = run("json_schema", {}, {"schema": {"type": 12}})
    assert_error(bad_truth, ground_truth=True, mentions="not a valid JSON Schema")
    assert_error(run("json_schema", {}, {"no": "schema"}), ground_truth=True, mentions='"schema"')


def test_json_schema_never_fetches_a_remote_ref():
    # jsonschema's default registry would fetch this over HTTP; ours is offline.
    verdict = run("json_schema", {}, {"schema": {"$ref": "http://127.0.0.1:9/person.json"}})
    assert_error(verdict, ground_truth=True, mentions="cannot be resolved offline")
    from_params = run("json_schema", {}, None, schema={"$ref": "https://example.com/s.json"})
    assert_error(from_params, mentions="cannot be resolved offline")
    # local refs and draft-07 schemas work
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"name": {"type": "string"}},
        "$ref": "#/definitions/name",
    }
    assert run("json_schema", "Ada", {"schema": draft7}).score == 1.0
    assert run("json_schema", 3, {"schema": draft7}).score == 0.0


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting_is_an_error_verdict_not_a_crash():
    deep = nested(3000)
    assert run("exact_match", deep, nested(3000)).score == 1.0  # iterative comparison
    assert run("exact_match", deep, nested(2999)).score == 0.0
    arrays_all_the_way = {"type": "array", "items": {"$ref": "#"}}
    assert run("json_schema", nested(5), {"schema": arrays_all_the_way}).score == 1.0
    assert_error(run("json_schema", deep, {"schema": arrays_all_the_way}), mentions="too deeply")
    assert_error(run("json_schema", {}, {"schema": {"$ref": "#"}}), mentions="too deeply")
    for name, evaluator in installed_evaluators().items():
        if name not in ("exact_match", "json_schema"):
            params = validate_params(name, evaluator.example.params)
            check = run_evaluator(name, deep, evaluator.example.ground_truth, params)
            assert_error(check)
