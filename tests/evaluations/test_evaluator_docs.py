"""The /evaluators/ page's content (evaluations/evaluators/docs.py), without a database."""

import json
import shlex

from evaluations.evaluators import (
    DEFAULT_EVALUATORS,
    REGISTRY,
    default_evaluator_for,
    installed_evaluators,
    parse_evaluator_spec,
    run_evaluator,
)
from evaluations.evaluators.docs import ParamDoc, evaluators_page, example_verdict, pretty_json


def doc_of(name: str):
    return next(doc for doc in evaluators_page().evaluators if doc.evaluator.name == name)


def test_every_registered_evaluator_is_documented_once_in_registry_order() -> None:
    page = evaluators_page()
    assert [doc.evaluator.name for doc in page.evaluators] == list(REGISTRY)
    assert evaluators_page() is page  # built once per process


def test_defaults_and_fallback_come_from_the_registry() -> None:
    page = evaluators_page()
    assert page.defaults == tuple(sorted(DEFAULT_EVALUATORS.items()))
    assert page.fallback == default_evaluator_for("no-such-output-type") == "exact_match"
    assert doc_of("iou").default_for == ("bounding_boxes",)
    assert doc_of("exact_match").default_for == ("structured",)
    assert doc_of("bleu").default_for == ()


def test_parameter_rows_by_hand() -> None:
    assert doc_of("ndcg_at_k").params == (
        ParamDoc("k", "integer", "10", "≥ 1", REGISTRY["ndcg_at_k"].params[0].help),
        ParamDoc("threshold", "number", "0.5", "0 – 1", REGISTRY["ndcg_at_k"].params[1].help),
    )
    substrings, ignore_case, _ = doc_of("contains").params
    assert (substrings.default, substrings.range) == ("required", "")
    assert (ignore_case.default, ignore_case.range) == ("false", "")
    assert doc_of("numeric_tolerance").params[0].default == "1e-09"
    assert doc_of("label_match").params[0].name == "ignore_case"
    assert doc_of("json_schema").params[0].default == "null"


def test_examples_are_scored_live_and_the_flag_reproduces_them() -> None:
    for name, evaluator in installed_evaluators().items():
        doc = doc_of(name)
        example = evaluator.example
        flag, value = shlex.split(doc.cli_flag)
        assert flag == "--evaluator"
        spec = parse_evaluator_spec(value)  # what evaluate_run does with the flag
        assert spec.name == name
        assert spec.params == evaluator.validate_params(example.params)
        if evaluator.judged:  # scored with the judge replies the example scripts
            expected = example_verdict(evaluator)
            assert expected.metrics["verdicts"] and "judge_error" not in expected.metrics
        else:
            expected = run_evaluator(name, example.output, example.ground_truth, spec.params)
        assert doc.verdict == expected
        assert json.loads(doc.verdict_metrics) == json.loads(json.dumps(expected.metrics))
        assert json.loads(doc.example_output) == example.output
        assert json.loads(doc.example_ground_truth) == example.ground_truth
        assert doc.example_params == (json.dumps(example.params) if example.params else "")
    assert doc_of("label_match").cli_flag == "--evaluator label_match"
    judge = doc_of("llm_judge").verdict
    assert (judge.score, judge.feedback) == (1.0, "It says 8 legs, as the reference does.")
    assert doc_of("contains").cli_flag == """--evaluator 'contains:{"substrings": ["Paris"]}'"""


def test_pretty_json_keeps_flat_arrays_on_one_line() -> None:
    value = {"boxes": [[0, 0, 10, 10], [5, 5, 20, 20]], "label": "car", "series": [1.5, 2]}
    assert pretty_json(value) == (
        '{\n "boxes": [\n  [0, 0, 10, 10],\n  [5, 5, 20, 20]\n ],\n "label": "car",\n'
        ' "series": [1.5, 2]\n}'
    )
    assert pretty_json("é") == '"é"'
