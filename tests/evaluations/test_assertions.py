"""The assertions evaluator (ground truth "assert" lists) and the editor's shape rule.

Expected scores are worked out by hand in the comments.
"""

import pytest

from cases.ground_truth import assertion_errors, ground_truth_errors
from evaluations.evaluators import run_evaluator, validate_params


def run(output, items, **params):
    return run_evaluator(
        "assertions", output, {"assert": items}, validate_params("assertions", params)
    )


SPIDER = {"text": "A spider has 8 legs, and it is not an insect."}


@pytest.mark.parametrize(
    ("item", "passed"),
    [
        ({"type": "contains", "value": "8 legs"}, True),
        ({"type": "contains", "value": "8 Legs"}, False),  # case-sensitive
        ({"type": "icontains", "value": "8 LEGS"}, True),
        ({"type": "icontains", "value": "wings"}, False),
        ({"type": "not_contains", "value": "wings"}, True),
        ({"type": "not_contains", "value": "insect"}, False),
        ({"type": "regex", "value": r"\b\d legs\b"}, True),
        ({"type": "regex", "value": r"^\d"}, False),
        ({"type": "equals", "value": SPIDER["text"]}, True),
        ({"type": "equals", "value": "A spider has 8 legs."}, False),
        ({"type": "numeric", "value": 8}, True),  # the first number in the text
        ({"type": "numeric", "value": 7}, False),
        ({"type": "numeric", "value": 7, "tolerance": 1}, True),
        ({"type": "numeric", "value": 7, "tolerance": 0.5}, False),
        ({"type": "json_schema", "value": {"type": "string"}}, True),
        ({"type": "json_schema", "value": {"type": "object"}}, False),
    ],
)
def test_each_type_on_a_text_answer(item, passed):
    verdict = run(SPIDER, [item])
    assert verdict.passed is passed
    assert verdict.score == (1.0 if passed else 0.0)
    assert verdict.metrics["failed"] == ([] if passed else [verdict.metrics["failed"][0]])
    if not passed:
        assert f"#1 {item['type']}" in verdict.feedback


def test_json_outputs_and_text_that_is_json():
    schema = {"type": "object", "required": ["age"], "properties": {"age": {"type": "integer"}}}
    assert run({"age": 3}, [{"type": "json_schema", "value": schema}]).passed
    assert run({"text": '{"age": 3}'}, [{"type": "json_schema", "value": schema}]).passed
    assert not run({"text": '{"age": "3"}'}, [{"type": "json_schema", "value": schema}]).passed
    assert run({"age": 3}, [{"type": "equals", "value": {"age": 3.0}}]).passed
    assert not run({"age": True}, [{"type": "equals", "value": {"age": 1}}]).passed
    assert run({"value": 2.5}, [{"type": "numeric", "value": 2.4, "tolerance": 0.1001}]).passed
    assert run({"text": "about -1.5e3 m"}, [{"type": "numeric", "value": -1500}]).passed
    assert not run({"text": "no digits"}, [{"type": "numeric", "value": 0}]).passed
    # a non-text output is matched as its JSON text
    assert run({"label": "cat"}, [{"type": "contains", "value": '"cat"'}]).passed


def test_weighted_mean_and_feedback_names_each_failure():
    items = [
        {"type": "contains", "value": "8"},  # passes, weight 1
        {"type": "contains", "value": "eight", "weight": 2},  # fails
        {"type": "not_contains", "value": "insect", "weight": 1},  # fails
    ]
    verdict = run(SPIDER, items)
    assert verdict.score == pytest.approx(1 / 4)  # 1 of 1 + 2 + 1
    assert verdict.passed is False
    assert verdict.feedback.startswith("2 of 3 assertions failed")
    assert '#2 contains: output lacks "eight"' in verdict.feedback
    assert '#3 not_contains: output contains "insect"' in verdict.feedback
    assert [r["passed"] for r in verdict.metrics["assertions"]] == [True, False, False]
    assert run(SPIDER, items, threshold=0.25).passed is True


def test_llm_rubric_is_skipped_not_failed_without_a_judge():
    items = [
        {"type": "contains", "value": "8"},
        {"type": "llm_rubric", "value": "says spiders are not insects", "weight": 5},
    ]
    verdict = run(SPIDER, items)
    assert verdict.score == 1.0 and verdict.passed
    assert verdict.metrics["skipped"] == ["#2 llm_rubric"]
    assert verdict.metrics["failed"] == []
    assert "Skipped without a judge: #2 llm_rubric" in verdict.feedback
    only = run(SPIDER, items[1:])
    assert only.score == 0.0 and not only.passed
    assert "llm_rubric needs a judge" in only.metrics["error"]


MALFORMED = [
    ("not a list", '"assert" must be an array'),
    ([], "at least one assertion"),
    (["contains"], '"assert"[0]: must be an object'),
    ([{"type": "startswith", "value": "x"}], '"type" must be one of'),
    ([{"type": "contains"}], 'missing "value"'),
    ([{"type": "contains", "value": ""}], '"value" must be a non-empty string'),
    ([{"type": "contains", "value": 8}], '"value" must be a non-empty string, got number'),
    ([{"type": "regex", "value": "(unclosed"}], "not a valid regular expression"),
    ([{"type": "numeric", "value": "8"}], '"value" must be a number'),
    ([{"type": "numeric", "value": 8, "tolerance": -1}], '"tolerance" must be >= 0'),
    ([{"type": "contains", "value": "a", "tolerance": 1}], "applies to type numeric only"),
    ([{"type": "contains", "value": "a", "weight": -2}], '"weight" must be >= 0'),
    ([{"type": "contains", "value": "a", "weight": "2"}], '"weight" must be a number'),
    ([{"type": "contains", "value": "a", "wieght": 2}], 'unknown key "wieght"'),
    ([{"type": "json_schema", "value": "object"}], "a JSON Schema"),
    ([{"type": "llm_rubric", "value": None}], '"value" must be a non-empty string'),
]


@pytest.mark.parametrize(("items", "message"), MALFORMED)
def test_malformed_lists_are_error_verdicts_and_editor_errors(items, message):
    verdict = run(SPIDER, items)
    assert verdict.score == 0.0 and verdict.passed is False
    assert verdict.metrics["ground_truth_error"] is True
    assert message in verdict.metrics["error"]
    assert message in verdict.feedback
    # the case editor's hint says the same, for any output type
    assert any(message in e for e in assertion_errors(items))
    for output_type in ("structured", "text"):
        errors = ground_truth_errors(output_type, {"text": "8", "assert": items})
        assert any(message in e for e in errors), errors


def test_invalid_schema_and_missing_list_are_ground_truth_errors():
    verdict = run(SPIDER, [{"type": "json_schema", "value": {"type": "nope"}}])
    assert verdict.metrics["ground_truth_error"] is True
    assert "not a valid JSON Schema" in verdict.metrics["error"]
    verdict = run_evaluator("assertions", SPIDER, {"text": "8"}, validate_params("assertions", {}))
    assert verdict.metrics["ground_truth_error"] is True
    assert 'missing key "assert"' in verdict.metrics["error"]
    assert (
        ground_truth_errors("text", {"text": "8", "assert": [{"type": "contains", "value": "8"}]})
        == []
    )


def test_zero_weights_are_an_error_verdict():
    verdict = run(SPIDER, [{"type": "contains", "value": "8", "weight": 0}])
    assert verdict.score == 0.0 and "every weight is 0" in verdict.metrics["error"]


@pytest.mark.django_db
def test_a_run_scores_assertions_and_counts_cases_without_them_apart():
    """Through the pipeline: a case without "assert" is not applicable (not a curation error),
    a malformed list is a curation error, the others are scored."""
    from model_bakery import baker

    from cases.models import TestCase
    from evaluations.models import Evaluation
    from evaluations.pipeline import evaluate_run
    from runs.models import ModelRun, Response

    run = baker.make(ModelRun, model_type="nlp")
    truths = [
        {"text": "8", "assert": [{"type": "contains", "value": "8"}]},
        {"text": "8", "assert": [{"type": "regex", "value": "eight"}]},
        {"text": "8"},
        {"text": "8", "assert": [{"type": "numeric", "value": "8"}]},
    ]
    for truth in truths:
        case = baker.make(TestCase, output_type="text", ground_truth=truth)
        baker.make(Response, run=run, test_case=case, output_data={"text": "It has 8 legs."})
    result = evaluate_run(run, ["assertions"])
    assert (result.not_applicable, result.curation_errors) == (1, 1)
    verdicts = Evaluation.objects.filter(evaluator_type="assertions").order_by("response_id")
    assert [v.passed for v in verdicts] == [True, False, False, False]
    assert verdicts[2].metrics["not_applicable"] is True
    assert verdicts[3].metrics["ground_truth_error"] is True
