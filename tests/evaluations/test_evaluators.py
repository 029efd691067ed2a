"""The pure evaluator registry (evaluations/evaluators/).

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
    normalize_text,
    parse_evaluator_spec,
    run_evaluator,
    validate_params,
)
from evaluations.evaluators.docs import example_verdict


def run(name, output, truth, **params):
    return run_evaluator(name, output, truth, validate_params(name, params))


def assert_error(verdict, *, ground_truth=False, mentions=""):
    assert verdict.score == 0.0
    assert verdict.passed is False
    assert "error" in verdict.metrics
    assert mentions in verdict.metrics["error"]
    assert mentions in verdict.feedback
    assert verdict.metrics.get("ground_truth_error", False) is ground_truth
    assert "internal_error" not in verdict.metrics


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


# --- label_match ----------------------------------------------------------------------


def test_label_match_correct_with_confidence():
    verdict = run("label_match", {"label": "cat", "confidence": 0.9}, {"label": "cat"})
    assert verdict == Verdict(
        1.0,
        True,
        {
            "predicted": "cat",
            "actual": "cat",
            "confidence": 0.9,
            "evaluator_version": "2",
            "params": {"ignore_case": False, "positive_label": None, "decision_threshold": None},
        },
        'Predicted label "cat" is correct.',
    )


def test_label_match_keeps_scores_and_follows_a_decision_threshold():
    output = {"label": "spam", "scores": {"spam": 0.6, "ham": 0.4}}
    verdict = run("label_match", output, {"label": "spam"})
    assert verdict.passed and verdict.metrics["scores"] == {"spam": 0.6, "ham": 0.4}
    # Scores alone: the most likely label is the prediction.
    assert run("label_match", {"scores": {"spam": 0.2, "ham": 0.8}}, "ham").passed
    # The run's threshold for "spam" moves the label of a two-label distribution.
    params = {"positive_label": "spam", "decision_threshold": 0.7}
    verdict = run("label_match", output, {"label": "spam"}, **params)
    assert (verdict.passed, verdict.metrics["predicted"]) == (False, "ham")
    assert verdict.metrics["decision_threshold"] == 0.7
    params["decision_threshold"] = 0.3
    output = {"label": "ham", "scores": {"spam": 0.35, "ham": 0.65}}
    verdict = run("label_match", output, "spam", **params)
    assert (verdict.passed, verdict.metrics["predicted"]) == (True, "spam")
    # Without a distribution the threshold does not apply.
    assert run("label_match", {"label": "spam", "confidence": 0.6}, "spam", **params).passed


@pytest.mark.parametrize(
    "scores, mentions",
    [
        ({"spam": 0.5, "ham": 0.4}, '"scores" must sum to 1, got 0.9'),
        ({"spam": 1.5, "ham": -0.5}, "must be a probability in [0, 1], got 1.5"),
        ({"spam": 0.5, "ham": "0.5"}, '"scores"["ham"] must be a number, got string'),
        ({"ham": 1.0}, 'no probability for the predicted "spam"'),
        ({"spam": 1.0}, 'no probability for the expected "ham"'),
        ([0.5, 0.5], '"scores" must be an object of label: probability, got array'),
        ({}, '"scores" must name at least one label'),
    ],
)
def test_label_match_malformed_scores_are_output_errors(scores, mentions):
    verdict = run("label_match", {"label": "spam", "scores": scores}, {"label": "ham"})
    assert_error(verdict, mentions=mentions)
    assert not verdict.metrics.get("ground_truth_error")


def test_label_match_wrong_and_bare_forms():
    verdict = run("label_match", "dog", "cat")
    assert (verdict.score, verdict.passed) == (0.0, False)
    assert verdict.metrics["predicted"] == "dog"
    assert verdict.metrics["actual"] == "cat"
    assert verdict.metrics["confidence"] is None
    assert verdict.feedback == 'Predicted label "dog", expected "cat".'


def test_label_match_case():
    assert run("label_match", "Cat", {"label": "cat"}).score == 0.0
    verdict = run("label_match", "CAT", {"label": "cat"}, ignore_case=True)
    assert verdict.score == 1.0
    # The curated spelling, so the confusion matrix agrees with the score.
    assert verdict.metrics["predicted"] == "cat"


def test_label_match_bad_confidence_is_not_fatal():
    verdict = run("label_match", {"label": "cat", "confidence": "very"}, {"label": "cat"})
    assert verdict.score == 1.0
    assert verdict.metrics["confidence"] is None


@pytest.mark.parametrize(
    "output", [None, {}, {"prediction": "cat"}, {"label": 1.5}, ["cat"], 3.0, math.nan]
)
def test_label_match_malformed_output(output):
    assert_error(run("label_match", output, {"label": "cat"}))


@pytest.mark.parametrize(
    ("output", "truth", "passed"),
    [
        ({"label": 3}, {"label": 3}, True),
        (3, {"label": "3"}, True),
        ({"label": True}, {"label": "true"}, True),
        ({"label": 1}, {"label": True}, False),  # 1 is "1", true is "true"
        ({"label": 2}, {"label": 3}, False),
    ],
)
def test_label_match_scalar_labels(output, truth, passed):
    verdict = run("label_match", output, truth)
    assert verdict.passed is passed and verdict.score == float(passed)


def test_scikit_learn_integer_predictions_score_and_fill_the_confusion_matrix():
    """A real classifier's integer predictions, pushed as its JSON (numpy ints via tolist)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, target)
    predicted = model.predict(features[::10]).tolist()
    truths = target[::10].tolist()
    verdicts = [
        run("label_match", {"label": p}, {"label": t})
        for p, t in zip(predicted, truths, strict=True)
    ]
    assert all(isinstance(p, int) for p in predicted)
    assert (
        sum(v.passed for v in verdicts)
        == sum(p == t for p, t in zip(predicted, truths, strict=True))
        > 10
    )
    assert {v.metrics["actual"] for v in verdicts} == {"0", "1", "2"}


def test_label_match_missing_key_is_named():
    verdict = run("label_match", {"prediction": "cat"}, {"label": "cat"})
    assert_error(verdict, mentions='missing key "label"')
    assert verdict.feedback.startswith("Output is malformed:")
    assert verdict.metrics["evaluator_version"] == "2"
    assert verdict.metrics["params"] == {
        "ignore_case": False,
        "positive_label": None,
        "decision_threshold": None,
    }


def test_label_match_malformed_ground_truth():
    verdict = run("label_match", {"label": "cat"}, {"class": "cat"})
    assert_error(verdict, ground_truth=True, mentions='"label"')
    assert verdict.feedback.startswith("Ground truth is malformed:")


# --- multilabel_f1 --------------------------------------------------------------------


def test_multilabel_partial():
    # predicted {a, b}, actual {b, c, d}: tp 1, P = 1/2, R = 1/3, F1 = 2*1/(2+3) = 0.4
    verdict = run("multilabel_f1", {"labels": ["a", "b"]}, {"labels": ["b", "c", "d"]})
    assert verdict.score == pytest.approx(0.4)
    assert verdict.passed is False  # default threshold 0.5
    m = verdict.metrics
    assert (m["precision"], m["recall"]) == (pytest.approx(0.5), pytest.approx(1 / 3))
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 2)


def test_multilabel_edge_cases():
    both_empty = run("multilabel_f1", {"labels": []}, {"labels": []})
    assert (both_empty.score, both_empty.passed) == (1.0, True)
    assert both_empty.metrics["precision"] == both_empty.metrics["recall"] == 1.0
    nothing_predicted = run("multilabel_f1", [], ["a"])
    assert nothing_predicted.score == 0.0
    assert nothing_predicted.metrics["precision"] == nothing_predicted.metrics["recall"] == 0.0
    nothing_expected = run("multilabel_f1", ["a"], [])
    assert nothing_expected.score == 0.0
    # Duplicates count once: {a} vs {a}.
    assert run("multilabel_f1", ["a", "a"], ["a"]).score == 1.0
    # F1 2/3 passes at 0.5, fails at 1.0.
    assert run("multilabel_f1", ["a"], ["a", "b"]).passed is True
    assert run("multilabel_f1", ["a"], ["a", "b"], threshold=1.0).passed is False


def test_multilabel_malformed():
    assert_error(run("multilabel_f1", {"labels": "a"}, ["a"]), mentions='"labels"')
    assert_error(run("multilabel_f1", ["a"], {"labels": [1.5]}), ground_truth=True)
    assert run("multilabel_f1", [1, True], {"labels": ["1", "true"]}).score == 1.0


# --- numeric_tolerance ----------------------------------------------------------------


def test_numeric_within_default_relative_tolerance():
    # |101 - 100| / 100 = 0.01 <= rel_tol 0.01
    verdict = run("numeric_tolerance", {"value": 101}, {"value": 100})
    assert (verdict.score, verdict.passed) == (1.0, True)
    assert verdict.metrics["abs_error"] == 1.0
    assert verdict.metrics["rel_error"] == pytest.approx(0.01)
    assert (verdict.metrics["predicted"], verdict.metrics["actual"]) == (101.0, 100.0)


def test_numeric_outside_tolerance_scores_one_minus_relative_error():
    # |90 - 100| / 100 = 0.1 -> 0.9, not within tolerance so not passed at threshold 1.0
    verdict = run("numeric_tolerance", 90, {"value": 100})
    assert verdict.score == pytest.approx(0.9)
    assert verdict.passed is False
    assert verdict.metrics["within_tolerance"] is False
    # negative values: |-110 - -100| / 100 = 0.1
    assert run("numeric_tolerance", -110, -100).score == pytest.approx(0.9)
    # relative error 1.5 -> floor at 0
    assert run("numeric_tolerance", 250, 100).score == 0.0
    # a softer threshold
    assert run("numeric_tolerance", 90, 100, threshold=0.8).passed is True


def test_numeric_absolute_tolerance_and_zero_actual():
    zero = run("numeric_tolerance", 0.5, 0)
    assert zero.score == 0.0
    assert zero.metrics["rel_error"] is None
    assert zero.metrics["abs_error"] == 0.5
    assert run("numeric_tolerance", 0.5, 0, abs_tol=1).score == 1.0
    exact = run("numeric_tolerance", 0, 0)
    assert exact.score == 1.0
    assert exact.metrics["rel_error"] == 0.0
    # rel_tol 0: only the absolute tolerance counts
    assert run("numeric_tolerance", 100.5, 100, rel_tol=0, abs_tol=0.5).score == 1.0
    assert run("numeric_tolerance", 101, 100, rel_tol=0).score == pytest.approx(0.99)


def test_numeric_huge_values_stay_json_safe():
    verdict = run("numeric_tolerance", 1e308, -1e308)  # the difference overflows to inf
    assert verdict.score == 0.0
    assert verdict.metrics["abs_error"] is None
    json.dumps(verdict.metrics, allow_nan=False)


@pytest.mark.parametrize("output", ["3.2", True, None, {"value": math.nan}, {"value": math.inf}])
def test_numeric_malformed(output):
    assert_error(run("numeric_tolerance", output, {"value": 3.2}))


# --- text_normalized_match -------------------------------------------------------------


def test_normalize_text():
    assert normalize_text("  Hello,\n  WORLD!! ") == "hello world"
    assert normalize_text("«Bonjour» — l’été…") == "bonjour lété"
    assert normalize_text("don't") == "dont"


@pytest.mark.parametrize(
    ("output", "truth", "equal"),
    [
        ({"text": "  The  Cat, sat! "}, {"text": "the cat sat"}, True),
        ("don't", "dont", True),
        ("«Bonjour»", "bonjour", True),
        ("café", "cafe", False),  # accents are not punctuation
        ("cat", "cats", False),
        ("new york.", {"texts": ["NYC", "New York"]}, True),  # any reference
        ("", {"text": "..."}, True),
    ],
)
def test_text_normalized_match(output, truth, equal):
    verdict = run("text_normalized_match", output, truth)
    assert (verdict.score, verdict.passed) == (float(equal), equal)


def test_text_malformed():
    assert_error(run("text_normalized_match", {"answer": "x"}, "x"), mentions='"text"')
    assert_error(run("text_normalized_match", "x", {"texts": []}), ground_truth=True)


# --- token_f1 -------------------------------------------------------------------------


def test_token_f1_squad():
    # tokens after SQuAD normalisation: [cat, sat, on, mat] vs [cat, on, mat]
    # common 3: P = 3/4, R = 1, F1 = 2 * 0.75 / 1.75 = 6/7
    verdict = run("token_f1", "The cat sat on the mat.", {"text": "A cat on a mat"})
    assert verdict.score == pytest.approx(6 / 7)
    assert verdict.metrics["precision"] == pytest.approx(0.75)
    assert verdict.metrics["recall"] == 1.0
    assert verdict.passed is True


def test_token_f1_counts_repeated_tokens_once_each():
    # [cat, cat, cat] vs [cat]: common 1, P = 1/3, R = 1, F1 = (2/3) / (4/3) = 0.5
    assert run("token_f1", "cat cat cat", "cat").score == pytest.approx(0.5)


def test_token_f1_empty_and_multiple_references():
    assert run("token_f1", "The", "a").score == 1.0  # both empty after normalisation
    assert run("token_f1", "", "cat").score == 0.0
    assert run("token_f1", "dog", "cat").score == 0.0
    # best reference: "cat" vs "cat sat" gives P 1, R 1/2, F1 2/3
    verdict = run("token_f1", "cat", {"texts": ["dog", "cat sat"]})
    assert verdict.score == pytest.approx(2 / 3)


# --- rouge_l --------------------------------------------------------------------------


def test_rouge_l():
    # LCS of [the cat on the mat] and [the cat sat on the mat] is 5 tokens:
    # P = 5/5, R = 5/6, F = 2 * (5/6) / (11/6) = 10/11
    verdict = run("rouge_l", "the cat on the mat", {"text": "the cat sat on the mat"})
    assert verdict.score == pytest.approx(10 / 11)
    assert verdict.metrics["precision"] == pytest.approx(1.0)
    assert verdict.metrics["recall"] == pytest.approx(5 / 6)
    assert verdict.metrics["fmeasure"] == pytest.approx(10 / 11)


def test_rouge_l_uses_the_stemmer():
    # Porter: running -> run, dogs -> dog
    assert run("rouge_l", "running dogs", "run dog").score == pytest.approx(1.0)


def test_rouge_l_best_reference_and_no_overlap():
    assert run("rouge_l", "a b", {"texts": ["x y", "a b"]}).score == pytest.approx(1.0)
    verdict = run("rouge_l", "alpha", "beta")
    assert (verdict.score, verdict.passed) == (0.0, False)


# --- bleu -----------------------------------------------------------------------------


def test_bleu_brevity_penalty():
    # all n-gram precisions 1; hypothesis 6 tokens, reference 7: BP = exp(1 - 7/6)
    verdict = run("bleu", "the cat sat on the mat", {"text": "the cat sat on the mat today"})
    assert verdict.score == pytest.approx(math.exp(-1 / 6))
    assert verdict.metrics["brevity_penalty"] == pytest.approx(math.exp(-1 / 6))
    assert verdict.metrics["bleu"] == pytest.approx(100 * math.exp(-1 / 6))


def test_bleu_case_sensitive_ngram_precisions():
    # "The" does not match "the": precisions 5/6, 4/5, 3/4, 2/3, product 1/3, BP 1
    verdict = run("bleu", "The cat sat on the mat", "the cat sat on the mat")
    assert verdict.score == pytest.approx((1 / 3) ** 0.25)


def test_bleu_13a_tokenizer_and_references():
    # 13a splits the final period, so both sides have the same tokens; clamped to 1.0
    identical = run("bleu", "the cat sat on the mat.", "the cat sat on the mat .")
    assert identical.score == 1.0
    assert identical.passed is True
    # the closest reference length (6) makes BP 1
    verdict = run(
        "bleu", "the cat sat on the mat", ["the cat sat on the mat today", "the cat sat on the mat"]
    )
    assert verdict.score == 1.0
    assert run("bleu", "", "the cat").score == 0.0


# --- fuzzy_ratio ----------------------------------------------------------------------


def test_fuzzy_ratio():
    # kitten -> sitting: Levenshtein distance 3 over the longer length 7: 1 - 3/7
    verdict = run("fuzzy_ratio", "Kitten!", {"text": "SITTING"})
    assert verdict.score == pytest.approx(4 / 7)
    assert verdict.passed is False  # default threshold 0.8
    assert run("fuzzy_ratio", "Hello, World", "hello world").score == 1.0
    assert run("fuzzy_ratio", "abcd", {"texts": ["xxxx", "abce"]}).score == pytest.approx(0.75)


# --- contains / regex -----------------------------------------------------------------


def test_contains():
    text = {"text": "Paris is the capital of France"}
    verdict = run("contains", text, None, substrings=["Paris", "France", "Berlin"])
    assert verdict.score == pytest.approx(2 / 3)
    assert verdict.passed is False  # threshold 1.0: all must be present
    assert verdict.metrics["found"] == ["Paris", "France"]
    assert verdict.metrics["missing"] == ["Berlin"]
    assert '"Berlin"' in verdict.feedback
    assert run("contains", text, None, substrings=["paris"]).score == 0.0
    assert run("contains", text, None, substrings=["paris"], ignore_case=True).score == 1.0
    half = run("contains", text, None, substrings=["Paris", "Rome"], threshold=0.5)
    assert (half.score, half.passed) == (0.5, True)


def test_regex():
    verdict = run("regex", "call 555-1234 now", None, pattern=r"\d{3}-\d{4}")
    assert (verdict.score, verdict.passed) == (1.0, True)
    assert verdict.metrics["matched"] == "555-1234"
    assert run("regex", "call 555-1234", None, pattern=r"\d{3}-\d{4}", full_match=True).score == 0
    assert run("regex", "YES", None, pattern="yes").score == 0.0
    assert run("regex", "YES", None, pattern="yes", ignore_case=True).score == 1.0
    assert_error(run("regex", {"txt": "x"}, None, pattern="x"), mentions='"text"')


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
    for name, evaluator in REGISTRY.items():
        if name not in ("exact_match", "json_schema"):
            params = validate_params(name, evaluator.example.params)
            check = run_evaluator(name, deep, evaluator.example.ground_truth, params)
            assert_error(check)


# --- iou ------------------------------------------------------------------------------


def boxes(*items):
    return {"boxes": [{"label": label, "bbox": list(bbox)} for label, bbox in items]}


def test_iou_half_overlap_passes_at_half():
    # [0,0,10,10] vs [0,0,10,5]: intersection 50, union 100 -> 0.5
    verdict = run("iou", boxes(("cat", (0, 0, 10, 5))), boxes(("cat", (0, 0, 10, 10))))
    assert verdict.score == pytest.approx(0.5)
    assert verdict.passed is True
    m = verdict.metrics
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 0)
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)
    assert m["mean_iou"] == pytest.approx(0.5)
    assert m["matches"] == [{"truth": 0, "predicted": 0, "label": "cat", "iou": 0.5}]


def test_iou_below_threshold():
    # [5,0,15,10] vs [0,0,10,10]: intersection 50, union 150 -> 1/3
    verdict = run("iou", [{"label": "cat", "bbox": [5, 0, 15, 10]}], boxes(("cat", (0, 0, 10, 10))))
    assert verdict.score == pytest.approx(1 / 3)
    assert verdict.passed is False
    m = verdict.metrics
    assert (m["tp"], m["fp"], m["fn"]) == (0, 1, 1)
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    # ... but found at a lower threshold
    assert run(
        "iou",
        [{"label": "cat", "bbox": [5, 0, 15, 10]}],
        boxes(("cat", (0, 0, 10, 10))),
        iou_threshold=0.3,
    ).passed


def test_iou_greedy_one_to_one():
    # truth A [0,0,10,10], B [10,0,20,10]; predictions P1 = A exactly, P2 [2,0,12,10].
    # IoU(A,P1) = 1, IoU(A,P2) = 80/120 = 2/3, IoU(B,P2) = 20/180 = 1/9, IoU(B,P1) = 0.
    # Greedy: A-P1 (1.0) first, so A-P2 is blocked and B takes P2 at 1/9.
    # score = (1 + 1/9) / 2 = 5/9; at 0.5 only A is found: tp 1, fp 1, fn 1.
    truth = boxes(("car", (0, 0, 10, 10)), ("car", (10, 0, 20, 10)))
    output = boxes(("car", (2, 0, 12, 10)), ("car", (0, 0, 10, 10)))
    verdict = run("iou", output, truth)
    assert verdict.score == pytest.approx(5 / 9)
    assert verdict.passed is False
    m = verdict.metrics
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
    assert [(x["truth"], x["predicted"]) for x in m["matches"]] == [(0, 1), (1, 0)]
    assert m["matches"][1]["iou"] == pytest.approx(1 / 9)


def test_iou_labels_must_agree():
    verdict = run("iou", boxes(("dog", (0, 0, 10, 10))), boxes(("cat", (0, 0, 10, 10))))
    assert verdict.score == 0.0
    assert verdict.metrics["matches"] == []


def test_iou_duplicate_prediction_is_a_false_positive_not_a_failure():
    # tp 1, fp 1: P = 1/2, R = 1, F1 = 2*1/(2+1) = 2/3
    verdict = run(
        "iou", boxes(("a", (0, 0, 10, 10)), ("a", (0, 0, 10, 10))), boxes(("a", (0, 0, 10, 10)))
    )
    assert (verdict.score, verdict.passed) == (1.0, True)
    assert verdict.metrics["precision"] == 0.5
    assert verdict.metrics["f1"] == pytest.approx(2 / 3)


def test_iou_empty_sides():
    no_predictions = run("iou", {"boxes": []}, boxes(("a", (0, 0, 1, 1)), ("b", (2, 2, 3, 3))))
    assert (no_predictions.score, no_predictions.passed) == (0.0, False)
    assert (no_predictions.metrics["fn"], no_predictions.metrics["precision"]) == (2, 0.0)
    nothing = run("iou", [], {"boxes": []})
    assert (nothing.score, nothing.passed) == (1.0, True)
    assert nothing.metrics["f1"] == 1.0
    spurious = run("iou", boxes(("a", (0, 0, 1, 1))), [])
    assert (spurious.score, spurious.passed, spurious.metrics["fp"]) == (0.0, False, 1)


def test_iou_degenerate_and_malformed_boxes():
    point = [{"label": "a", "bbox": [1, 1, 1, 1]}]
    assert run("iou", point, point).score == 1.0
    assert_error(run("iou", [{"label": "a", "bbox": [1, 1, 0, 0]}], point), mentions="x2 >= x1")
    assert_error(run("iou", point, [{"label": "a", "bbox": [1]}]), ground_truth=True)


def test_iou_huge_coordinates_stay_finite():
    huge = [{"label": "a", "bbox": [-1e308, -1e308, 1e308, 1e308]}]
    verdict = run("iou", huge, huge)
    assert 0.0 <= verdict.score <= 1.0
    json.dumps(verdict.metrics, allow_nan=False)


# --- ndcg_at_k ------------------------------------------------------------------------


def test_ndcg_graded():
    # ranking d3 (0), d1 (2), d7 (1):
    # DCG  = (2^2-1)/log2(3) + (2^1-1)/log2(4) = 3/log2(3) + 1/2
    # IDCG = (2^2-1)/log2(2) + (2^1-1)/log2(3) = 3 + 1/log2(3)
    verdict = run("ndcg_at_k", {"ranking": ["d3", "d1", "d7"]}, {"relevance": {"d1": 2, "d7": 1}})
    expected = (3 / math.log2(3) + 0.5) / (3 + 1 / math.log2(3))
    assert verdict.score == pytest.approx(expected)
    assert verdict.passed is True
    m = verdict.metrics
    assert m["ndcg"] == pytest.approx(expected)
    assert m["precision_at_k"] == pytest.approx(2 / 10)
    assert m["recall_at_k"] == 1.0
    assert m["mrr"] == 0.5


def test_ndcg_perfect_and_ties():
    assert run("ndcg_at_k", ["d1", "d7"], {"relevance": {"d1": 2, "d7": 1}}).score == 1.0
    # equal grades: either order is ideal
    assert run("ndcg_at_k", ["b", "a"], {"relevance": {"a": 1, "b": 1}}).score == 1.0


def test_ndcg_ranking_shorter_than_k():
    # relevant a, b, c; ranking [a]; k 5. DCG 1, IDCG 1 + 1/log2(3) + 1/2
    verdict = run("ndcg_at_k", ["a"], {"relevant": ["a", "b", "c"]}, k=5)
    assert verdict.score == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    assert verdict.metrics["precision_at_k"] == pytest.approx(1 / 5)
    assert verdict.metrics["recall_at_k"] == pytest.approx(1 / 3)
    assert verdict.metrics["mrr"] == 1.0


def test_ndcg_cut_at_k_but_mrr_over_whole_ranking():
    verdict = run("ndcg_at_k", ["a", "b", "x"], {"relevant": ["x"]}, k=2)
    assert verdict.score == 0.0
    assert verdict.metrics["precision_at_k"] == 0.0
    assert verdict.metrics["mrr"] == pytest.approx(1 / 3)


def test_ndcg_no_relevant_item_and_empty_ranking():
    verdict = run("ndcg_at_k", ["p", "q"], {"relevant": ["x"]})
    assert (verdict.score, verdict.metrics["mrr"]) == (0.0, 0.0)
    empty = run("ndcg_at_k", [], {"relevant": ["x"]})
    assert (empty.score, empty.metrics["mrr"], empty.metrics["recall_at_k"]) == (0.0, 0.0, 0.0)


def test_ndcg_ids_compare_as_strings_and_repeats_count_once():
    assert run("ndcg_at_k", {"ranking": ["17"]}, {"relevant": [17]}).score == 1.0
    # [a, a, b]: DCG = 1/log2(2) + 0 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    verdict = run("ndcg_at_k", ["a", "a", "b"], {"relevant": ["a", "b"]})
    assert verdict.score == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_ndcg_ground_truth_without_relevant_item():
    verdict = run("ndcg_at_k", ["a"], {"relevance": {"a": 0}})
    assert_error(verdict, ground_truth=True, mentions="NDCG is undefined")


# --- forecast_error -------------------------------------------------------------------


def test_forecast_error():
    # errors 10, 20; mae 15; rmse sqrt((100 + 400) / 2); mape (0.1 + 0.1) / 2
    # smape terms 20/210 and 40/380
    verdict = run("forecast_error", {"values": [110, 180]}, {"values": [100, 200]})
    smape = (20 / 210 + 40 / 380) / 2
    assert verdict.score == pytest.approx(1 - smape / 2)
    assert verdict.passed is True  # default threshold 0.9
    m = verdict.metrics
    assert m["n"] == 2
    assert m["mae"] == pytest.approx(15)
    assert m["rmse"] == pytest.approx(math.sqrt(250))
    assert m["mape"] == pytest.approx(0.1)
    assert m["smape"] == pytest.approx(smape)
    assert m["sum_abs_error"] == pytest.approx(30)
    assert m["sum_sq_error"] == pytest.approx(500)
    assert m["sum_smape_terms"] == pytest.approx(20 / 210 + 40 / 380)


def test_forecast_zeros():
    # point 1: 0 vs 0 counts 0; point 2: 2*5/15 = 2/3; smape 1/3; mape undefined
    verdict = run("forecast_error", [0, 5], [0, 10])
    assert verdict.metrics["smape"] == pytest.approx(1 / 3)
    assert verdict.score == pytest.approx(1 - 1 / 6)
    assert verdict.metrics["mape"] is None
    assert verdict.metrics["mae"] == pytest.approx(2.5)
    assert verdict.passed is False
    worst = run("forecast_error", [5], [0])
    assert (worst.score, worst.metrics["smape"]) == (0.0, 2.0)
    assert run("forecast_error", [0, 0], [0, 0]).score == 1.0


def test_forecast_malformed_and_huge():
    assert_error(run("forecast_error", [1, 2], [1, 2, 3]), mentions="has 2 numbers")
    assert_error(run("forecast_error", [1, None], [1, 2]), mentions='"values"[1]')
    assert_error(run("forecast_error", [1], []), ground_truth=True)
    huge = run("forecast_error", [-1e308], [1e308])
    assert (huge.score, huge.metrics["smape"], huge.metrics["sum_abs_error"]) == (0.0, 2.0, None)
    json.dumps(huge.metrics, allow_nan=False)


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
        run_evaluator("semantic_similarity", "x", "x")


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
}


def test_registry_is_complete_and_documented():
    assert set(REGISTRY) == EXPECTED
    for name, evaluator in REGISTRY.items():
        assert evaluator.name == name
        assert evaluator.version and evaluator.description and evaluator.expects
        assert evaluator.passed_when
        for param in evaluator.params:
            assert param.name and param.type and param.help
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

VALIDATED = {
    name: validate_params(name, evaluator.example.params) for name, evaluator in REGISTRY.items()
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
    for name, evaluator in REGISTRY.items():
        check_verdict(run_evaluator(name, output, evaluator.example.ground_truth, VALIDATED[name]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=JSON_VALUES, truth=JSON_VALUES)
def test_any_ground_truth_gives_a_verdict(output, truth):
    for name in REGISTRY:
        check_verdict(run_evaluator(name, output, truth, VALIDATED[name]))
