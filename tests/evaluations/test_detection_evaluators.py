"""iou (evaluations/evaluators/detection.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import json

import pytest

from tests.evaluations.scoring import assert_error, run

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
