"""The evaluator registry: parameters, run_evaluator, defaults, and verdicts whatever the
model says (evaluations/evaluators/registry.py). Each evaluator's own tests:
test_<module>_evaluators.py.

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.evaluators import (
    DEFAULT_EVALUATORS,
    REGISTRY,
    EvaluatorConfigError,
    EvaluatorSpec,
    Verdict,
    default_evaluator_for,
    failed_call_verdict,
    installed_evaluators,
    parse_evaluator_spec,
    run_evaluator,
    validate_params,
)
from evaluations.evaluators.docs import example_verdict
from tests.evaluations.scoring import run

# --- parameters -----------------------------------------------------------------------


def test_validate_params_fills_defaults():
    assert validate_params("numeric_tolerance", None) == {
        "abs_tol": 1e-9,
        "rel_tol": 0.01,
        "threshold": 1.0,
    }
    assert validate_params("ndcg_at_k", {"k": 5.0}) == {"k": 5, "threshold": 0.5}
    assert validate_params("contains", {"substrings": "x"})["substrings"] == ["x"]
    validated = validate_params("iou", {"iou_threshold": 1})
    assert validated == {"iou_threshold": 1.0}
    assert validate_params("iou", validated) == validated  # idempotent


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown evaluator 'nope'"),
        ("iou", {"threshold": 0.5}, "unknown parameter 'threshold' for evaluator iou"),
        ("iou", {"iou_threshold": "high"}, '"iou_threshold" must be a number'),
        ("iou", {"iou_threshold": 1.5}, '"iou_threshold" must be <= 1'),
        ("iou", {"iou_threshold": math.nan}, '"iou_threshold" must be a finite number'),
        ("ndcg_at_k", {"k": 0}, '"k" must be >= 1'),
        ("ndcg_at_k", {"k": 2.5}, '"k" must be an integer'),
        ("ndcg_at_k", {"k": True}, '"k" must be an integer'),
        ("label_match", {"ignore_case": "yes"}, '"ignore_case" must be true or false'),
        ("token_f1", {"threshold": None}, '"threshold" must be a number'),
        ("token_f1", {"threshold": True}, '"threshold" must be a number'),
        ("numeric_tolerance", {"abs_tol": -1}, '"abs_tol" must be >= 0'),
        ("label_match", [("ignore_case", True)], "must be a JSON object"),
        ("regex", {}, '"pattern" is required'),
        ("regex", {"pattern": "("}, '"pattern" is not a valid regular expression'),
        ("contains", {}, '"substrings" is required'),
        ("contains", {"substrings": []}, '"substrings" must list at least one'),
        ("contains", {"substrings": ["a", ""]}, '"substrings" must not contain an empty'),
        ("contains", {"substrings": [1]}, '"substrings" must be a list of strings'),
    ],
)
def test_validate_params_errors(name, params, message):
    with pytest.raises(EvaluatorConfigError, match=message.replace("(", r"\(")):
        validate_params(name, params)


def test_parse_evaluator_spec():
    assert parse_evaluator_spec('iou:{"iou_threshold": 0.75}') == EvaluatorSpec(
        "iou", {"iou_threshold": 0.75}
    )
    assert parse_evaluator_spec(" label_match ") == EvaluatorSpec(
        "label_match", {"ignore_case": False, "positive_label": None, "decision_threshold": None}
    )
    assert parse_evaluator_spec("iou:").params == {"iou_threshold": 0.5}
    # only the first colon separates; the JSON may hold more
    assert parse_evaluator_spec('regex:{"pattern": "a:b"}').params["pattern"] == "a:b"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("iou:{bad", "parameters of iou are not valid JSON"),
        ("iou:[1]", "must be a JSON object"),
        (':{"k": 1}', "no evaluator name"),
        ("bogus", "unknown evaluator 'bogus'"),
        ('iou:{"k": 3}', "unknown parameter 'k'"),
    ],
)
def test_parse_evaluator_spec_errors(spec, message):
    with pytest.raises(EvaluatorConfigError, match=message):
        parse_evaluator_spec(spec)


# --- run_evaluator and the registry ---------------------------------------------------


def test_run_evaluator_default_params_and_bookkeeping():
    verdict = run_evaluator("token_f1", "a b", "a b")
    assert verdict.metrics["evaluator_version"] == REGISTRY["token_f1"].version
    assert verdict.metrics["params"] == {"threshold": 0.5}
    with pytest.raises(EvaluatorConfigError, match='"pattern" is required'):
        run_evaluator("regex", "x", None)
    with pytest.raises(EvaluatorConfigError, match="unknown evaluator"):
        run_evaluator("semantic_similarity_v9", "x", "x")


def test_failed_call_verdict():
    verdict = failed_call_verdict("HTTP 503 from model server")
    assert verdict == Verdict(
        0.0,
        False,
        {"error": "HTTP 503 from model server", "call_failed": True},
        "The model call failed: HTTP 503 from model server.",
    )


def test_defaults_per_output_type():
    assert default_evaluator_for("classification") == "label_match"
    assert default_evaluator_for("bounding_boxes") == "iou"
    assert default_evaluator_for("structured") == "exact_match"
    assert default_evaluator_for("audio") == "exact_match"
    assert set(DEFAULT_EVALUATORS.values()) <= set(REGISTRY)


EXPECTED = {
    "assertions",
    "exact_match",
    "label_match",
    "multilabel_f1",
    "numeric_tolerance",
    "text_normalized_match",
    "token_f1",
    "rouge_l",
    "bleu",
    "fuzzy_ratio",
    "contains",
    "regex",
    "json_schema",
    "iou",
    "ndcg_at_k",
    "forecast_error",
    "llm_judge",
    "semantic_similarity",
}


def test_registry_is_complete_and_documented():
    assert set(REGISTRY) == EXPECTED
    for name, evaluator in REGISTRY.items():
        assert evaluator.name == name
        assert evaluator.version and evaluator.description and evaluator.expects
        assert evaluator.passed_when
        for param in evaluator.params:
            assert param.name and param.type and param.help
        if name not in INSTALLED:  # an optional extra this install lacks: documented, not run
            continue
        if evaluator.judged:  # its example plays scripted judge replies (no model asked)
            verdict = example_verdict(evaluator)
        else:
            verdict = run(
                name,
                evaluator.example.output,
                evaluator.example.ground_truth,
                **evaluator.example.params,
            )
        assert "error" not in verdict.metrics, (name, verdict)
        json.dumps(verdict.metrics, allow_nan=False)
        assert verdict.feedback.endswith(".")


# --- never raises, whatever the model says ---------------------------------------------

SHAPE_KEYS = st.sampled_from(
    [
        "label",
        "labels",
        "confidence",
        "value",
        "text",
        "texts",
        "boxes",
        "bbox",
        "ranking",
        "relevant",
        "relevance",
        "values",
        "schema",
    ]
)
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(SHAPE_KEYS | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)

# Every evaluator this install can run (an optional extra's, e.g. semantic, where installed).
INSTALLED = installed_evaluators()
VALIDATED = {
    name: validate_params(name, evaluator.example.params) for name, evaluator in INSTALLED.items()
}


def check_verdict(verdict):
    assert isinstance(verdict, Verdict)
    assert type(verdict.score) is float
    assert 0.0 <= verdict.score <= 1.0
    assert isinstance(verdict.passed, bool)
    assert isinstance(verdict.feedback, str) and verdict.feedback
    assert "internal_error" not in verdict.metrics, verdict.metrics
    assert "evaluator_version" in verdict.metrics and "params" in verdict.metrics
    json.dumps(verdict.metrics, allow_nan=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=JSON_VALUES)
def test_any_output_gives_a_verdict(output):
    for name, evaluator in INSTALLED.items():
        check_verdict(run_evaluator(name, output, evaluator.example.ground_truth, VALIDATED[name]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=JSON_VALUES, truth=JSON_VALUES)
def test_any_ground_truth_gives_a_verdict(output, truth):
    for name in INSTALLED:
        check_verdict(run_evaluator(name, output, truth, VALIDATED[name]))
