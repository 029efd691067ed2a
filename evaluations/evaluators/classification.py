"""Classification evaluators: one label, or a set of labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.shapes import ShapeError, coerce_confidence, coerce_label, coerce_labels

from .base import Evaluator, Example, Param, Verdict, ground_truth, quote, threshold_param


def label_match(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """1 when the labels are equal. Called once per response of every classification
    run, so it stays a handful of dict look-ups."""
    actual = ground_truth(coerce_label, truth)
    predicted = coerce_label(output)
    try:
        confidence = coerce_confidence(output)
    except ShapeError:
        confidence = None  # the label is what is scored; a bad confidence is not fatal
    if params["ignore_case"]:
        correct = predicted.casefold() == actual.casefold()
        if correct:
            # Report the curated spelling so the confusion matrix agrees with the score.
            predicted = actual
    else:
        correct = predicted == actual
    if correct:
        feedback = f"Predicted label {quote(predicted)} is correct."
    else:
        feedback = f"Predicted label {quote(predicted)}, expected {quote(actual)}."
    return Verdict(
        1.0 if correct else 0.0,
        correct,
        {"predicted": predicted, "actual": actual, "confidence": confidence},
        feedback,
    )


def _set_prf(tp: int, n_predicted: int, n_actual: int) -> tuple[float, float, float]:
    """Precision, recall and F1; two empty sets agree perfectly, an undefined ratio is 0."""
    if n_predicted == 0 and n_actual == 0:
        return 1.0, 1.0, 1.0
    precision = tp / n_predicted if n_predicted else 0.0
    recall = tp / n_actual if n_actual else 0.0
    f1 = 2 * tp / (n_predicted + n_actual)
    return precision, recall, f1


def _listing(labels: set[str]) -> str:
    shown = sorted(labels)[:5]
    more = f" and {len(labels) - 5} more" if len(labels) > 5 else ""
    return ", ".join(quote(label) for label in shown) + more


def multilabel_f1(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """F1 of the predicted and actual label sets (duplicates count once)."""
    actual = set(ground_truth(coerce_labels, truth))
    predicted = set(coerce_labels(output))
    tp = len(predicted & actual)
    precision, recall, f1 = _set_prf(tp, len(predicted), len(actual))
    missing, extra = actual - predicted, predicted - actual
    if not missing and not extra:
        feedback = "Predicted labels match exactly."
    else:
        parts = []
        if missing:
            parts.append(f"missing {_listing(missing)}")
        if extra:
            parts.append(f"extra {_listing(extra)}")
        feedback = f"Label F1 {f1:.2f}: " + "; ".join(parts) + "."
    metrics = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": len(extra),
        "fn": len(missing),
    }
    return Verdict(f1, f1 >= params["threshold"], metrics, feedback)


EVALUATORS = [
    Evaluator(
        name="label_match",
        version="1",
        description="1 when the predicted label equals the ground-truth label, else 0.",
        expects=(
            'output and ground truth {"label": str | int | bool} or a bare label; integers and '
            'booleans compare as their canonical strings (3 = "3", true = "true"); the output '
            'may add "confidence": number (reported, not scored)'
        ),
        passed_when="the labels are equal",
        params=(
            Param(
                "ignore_case",
                "boolean",
                False,
                "compare labels case-insensitively (Unicode case folding)",
            ),
        ),
        example=Example({"label": "cat", "confidence": 0.92}, {"label": "cat"}),
        score=label_match,
    ),
    Evaluator(
        name="multilabel_f1",
        version="1",
        description=(
            "F1 of the predicted and ground-truth label sets; two empty sets score 1. "
            "Metrics carry tp/fp/fn so a report can pool them."
        ),
        expects='output and ground truth {"labels": [str | int | bool]} or a bare list; '
        "integers and booleans compare as their canonical strings",
        passed_when="score >= threshold",
        params=(threshold_param(0.5),),
        example=Example({"labels": ["cat", "indoor"]}, {"labels": ["cat", "outdoor"]}),
        score=multilabel_f1,
    ),
]
