"""Classification evaluators: one label, or a set of labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.shapes import (
    ShapeError,
    coerce_confidence,
    coerce_label,
    coerce_labels,
    coerce_scores,
)

from .base import Evaluator, Example, Param, Verdict, ground_truth, quote, threshold_param


def _scored_label(scores: dict[str, float], label: str, ignore_case: bool) -> str | None:
    """The key of ``scores`` naming ``label`` (case-folded when ``ignore_case``)."""
    if label in scores:
        return label
    if ignore_case:
        folded = label.casefold()
        return next((key for key in scores if key.casefold() == folded), None)
    return None


def _thresholded(scores: dict[str, float], params: Mapping[str, Any]) -> str | None:
    """The label a decision threshold picks from a two-label distribution: the positive one
    when its probability is >= the threshold; None when no threshold applies."""
    positive, threshold = params["positive_label"], params["decision_threshold"]
    if positive is None or threshold is None or len(scores) != 2 or positive not in scores:
        return None
    if scores[positive] >= threshold:
        return positive
    return next(label for label in scores if label != positive)


def label_match(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """1 when the labels are equal. Called once per response of every classification
    run, so it stays a handful of dict look-ups.

    An output with ``scores`` (a probability per label) keeps them in the metrics for the
    report's ROC, PR and calibration figures; they must include the predicted and the
    expected label. With ``positive_label`` and ``decision_threshold`` (the run config's, the
    threshold explorer's choice), a two-label distribution's label is the threshold's pick.
    """
    actual = ground_truth(coerce_label, truth)
    scores = coerce_scores(output)
    if scores is not None and type(output) is dict and "label" not in output:
        predicted = max(sorted(scores), key=scores.__getitem__)  # the most likely label
    else:
        predicted = coerce_label(output)
    try:
        confidence = coerce_confidence(output)
    except ShapeError:
        confidence = None  # the label is what is scored; a bad confidence is not fatal
    metrics: dict[str, Any] = {}
    if scores is not None:
        if _scored_label(scores, predicted, False) is None:
            raise ShapeError(f'"scores" has no probability for the predicted {quote(predicted)}')
        if _scored_label(scores, actual, params["ignore_case"]) is None:
            raise ShapeError(f'"scores" has no probability for the expected {quote(actual)}')
        chosen = _thresholded(scores, params)
        if chosen is not None:
            predicted = chosen
            metrics["decision_threshold"] = params["decision_threshold"]
        metrics["scores"] = scores
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
        {"predicted": predicted, "actual": actual, "confidence": confidence, **metrics},
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
        # The sets themselves, for the report's per-label (macro) figures.
        "predicted": sorted(predicted),
        "actual": sorted(actual),
    }
    return Verdict(f1, f1 >= params["threshold"], metrics, feedback)


EVALUATORS = [
    Evaluator(
        name="label_match",
        version="2",
        description="1 when the predicted label equals the ground-truth label, else 0.",
        expects=(
            'output and ground truth {"label": str | int | bool} or a bare label; integers and '
            'booleans compare as their canonical strings (3 = "3", true = "true"); the output '
            'may add "confidence": number (reported, not scored) or "scores": {label: '
            "probability} (summing to 1, covering the predicted and expected labels; kept for "
            "the report's ROC, PR and calibration)"
        ),
        passed_when="the labels are equal",
        params=(
            Param(
                "ignore_case",
                "boolean",
                False,
                "compare labels case-insensitively (Unicode case folding)",
            ),
            Param(
                "positive_label",
                "string",
                None,
                "with decision_threshold: the label a two-label distribution's threshold is for",
            ),
            Param(
                "decision_threshold",
                "number",
                None,
                "with positive_label: predict it when its probability in scores is >= this",
                minimum=0.0,
                maximum=1.0,
            ),
        ),
        example=Example(
            {"label": "spam", "scores": {"spam": 0.93, "ham": 0.07}}, {"label": "spam"}
        ),
        score=label_match,
    ),
    Evaluator(
        name="multilabel_f1",
        version="2",
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
