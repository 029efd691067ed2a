"""Object detection: boxes matched one-to-one by IoU."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.shapes import Box, coerce_boxes

from .base import Evaluator, Example, Param, Verdict, ground_truth


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes, in [0, 1]."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw < 0 or ih < 0:
        return 0.0
    inter = iw * ih
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    if union <= 0:
        # Two zero-area boxes: the same point/segment is a perfect match.
        return 1.0 if a[1:] == b[1:] else 0.0
    iou = inter / union
    # Coordinates near the float limit can overflow to inf/inf; call that no match.
    return iou if 0.0 <= iou <= 1.0 else 0.0


def greedy_matches(truth: list[Box], predicted: list[Box]) -> list[tuple[int, int, float]]:
    """One-to-one (truth index, predicted index, IoU) pairs of the same label, taken
    by IoU descending (ties by index) among pairs that overlap at all."""
    candidates = []
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            if t.label == p.label:
                iou = box_iou(t, p)
                if iou > 0:
                    candidates.append((-iou, i, j))
    candidates.sort()
    used_truth: set[int] = set()
    used_predicted: set[int] = set()
    matches = []
    for negative_iou, i, j in candidates:
        if i not in used_truth and j not in used_predicted:
            used_truth.add(i)
            used_predicted.add(j)
            matches.append((i, j, -negative_iou))
    return matches


def iou(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """Mean matched IoU over ground-truth boxes (0 for an unmatched box)."""
    actual = ground_truth(coerce_boxes, truth)
    predicted = coerce_boxes(output)
    threshold = params["iou_threshold"]
    matches = greedy_matches(actual, predicted)
    n_true, n_pred = len(actual), len(predicted)
    tp = sum(1 for _, _, value in matches if value >= threshold)
    fp, fn = n_pred - tp, n_true - tp
    if n_true == 0:
        # Nothing to find: right only when nothing was predicted.
        score = 1.0 if n_pred == 0 else 0.0
        passed = n_pred == 0
    else:
        score = sum(value for _, _, value in matches) / n_true
        passed = tp == n_true
    if n_true == 0 and n_pred == 0:
        precision = recall = f1 = 1.0
    else:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * tp / (n_pred + n_true)
    metrics = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "mean_iou": score,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "matches": [
            {"truth": i, "predicted": j, "label": actual[i].label, "iou": value}
            for i, j, value in matches
        ],
    }
    if n_true == 0:
        feedback = (
            "No boxes expected and none predicted."
            if n_pred == 0
            else f"No boxes expected but {n_pred} predicted."
        )
    else:
        feedback = (
            f"{tp} of {n_true} ground-truth boxes matched at IoU >= {threshold:g} "
            f"({fp} false positive{'s' if fp != 1 else ''}); mean IoU {score:.2f}."
        )
    return Verdict(score, passed, metrics, feedback)


EVALUATORS = [
    Evaluator(
        name="iou",
        version="1",
        description=(
            "Greedy one-to-one matching of same-label boxes by IoU descending; score = mean "
            "matched IoU over ground-truth boxes (unmatched count 0). Metrics: precision, "
            "recall, f1 at iou_threshold, mean_iou, matches, and tp/fp/fn for pooling. "
            "With no ground-truth boxes, predicting none scores 1 and anything else 0."
        ),
        expects=(
            'output and ground truth {"boxes": [{"label": str, "bbox": [x1, y1, x2, y2]}]} '
            "or a bare list of boxes; x2 >= x1, y2 >= y1; a box without label matches "
            "only unlabelled boxes"
        ),
        passed_when=(
            "every ground-truth box is matched at IoU >= iou_threshold (false positives "
            "lower precision, not passed)"
        ),
        params=(
            Param(
                "iou_threshold",
                "number",
                0.5,
                "IoU at which a matched box counts as found",
                minimum=0.0,
                maximum=1.0,
            ),
        ),
        example=Example(
            {"boxes": [{"label": "cat", "bbox": [10, 10, 50, 50]}]},
            {"boxes": [{"label": "cat", "bbox": [12, 8, 52, 48]}]},
        ),
        score=iou,
    ),
]
