"""label_match and multilabel_f1 (evaluations/evaluators/classification.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import math

import pytest

from evaluations.evaluators import (
    Verdict,
)
from tests.evaluations.scoring import assert_error, run

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
