"""Figures of scored classifications, from arrays: ROC and precision-recall curves, AUC,
average precision, log loss, Brier score, calibration bins and the threshold grid.

Pure numpy, no database: :mod:`evaluations.reports.scores` reads a run's scores into arrays
in one statement and hands them here. Each figure follows scikit-learn's definition exactly
(the tests compare at 1e-9): the curves have one point per distinct score (ties move both
rates at once, as ``sklearn.metrics.roc_curve``), AUC is the trapezoid under that curve,
average precision the step sum ``sum((R_n - R_{n-1}) P_n)``, log loss clips probabilities
to ``[eps, 1 - eps]`` (eps of float64), a multiclass Brier score sums over the classes (as
``brier_score_loss`` for three classes or more). Curves are downsampled to at most
:data:`CURVE_POINTS` points for any number of responses; the figures are computed from the
full curve first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "CALIBRATION_BINS",
    "CURVE_POINTS",
    "OVR_CURVE_POINTS",
    "THRESHOLD_STEPS",
    "binary_block",
    "binary_curve",
    "calibration",
    "downsample",
    "multiclass_block",
    "sort_scores",
    "threshold_figures",
    "threshold_grid",
]

#: Most points a stored curve keeps (the first and last always among them).
CURVE_POINTS = 201
#: Most points of each label's one-vs-rest ROC curve (up to 50 labels: 5,050 points at most).
OVR_CURVE_POINTS = 101
#: Equal-width bins of the reliability diagram.
CALIBRATION_BINS = 10
#: The threshold explorer's grid: 0, 1/THRESHOLD_STEPS, ..., 1.
THRESHOLD_STEPS = 100

_EPS = np.finfo(np.float64).eps


def sort_scores(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every score and the positives' scores, each ascending. Each figure here counts the
    scores (and the positives) above or below some value, so these two sorts serve them all:
    no argsort (ties need no order, only counts), the slowest step of a million scores."""
    return np.sort(p), np.sort(p[y])


def binary_curve(
    ascending: np.ndarray, positives: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative false and true positives at each distinct score, highest score first, and
    the scores (thresholds), from :func:`sort_scores`: what
    ``sklearn.metrics._ranking._binary_clf_curve`` gives, by counting instead of sorting the
    labels along."""
    n = ascending.size
    last = np.r_[np.flatnonzero(np.diff(ascending)), n - 1]  # each distinct score's last index
    scores = ascending[last]
    at_or_above = n - np.r_[0, last[:-1] + 1]
    tps = positives.size - np.searchsorted(positives, scores, side="left")
    return (at_or_above - tps)[::-1], tps[::-1], scores[::-1]


def downsample(n: int, limit: int = CURVE_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` evenly spaced points of ``n``, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def _curves(fps: np.ndarray, tps: np.ndarray, limit: int = CURVE_POINTS) -> dict:
    """AUC, average precision and both curves (at most ``limit`` points each) from
    :func:`binary_curve`'s counts; None figures when a class is absent (the rates are
    undefined)."""
    positives, negatives = int(tps[-1]), int(fps[-1])
    if positives == 0 or negatives == 0:
        return {"roc_auc": None, "average_precision": None, "roc_curve": None, "pr_curve": None}
    fpr = np.r_[0, fps] / negatives
    tpr = np.r_[0, tps] / positives
    precision = tps / (tps + fps)
    recall = tps / positives
    ap = float(np.sum(np.diff(np.r_[0, recall]) * precision))
    roc = downsample(fpr.size, limit)
    # The PR curve as scikit-learn draws it: (recall 0, precision 1) first.
    pr_precision, pr_recall = np.r_[1.0, precision], np.r_[0.0, recall]
    pr = downsample(pr_precision.size, limit)
    return {
        "roc_auc": float(np.trapezoid(tpr, fpr)),
        "average_precision": ap,
        "roc_curve": {"fpr": _floats(fpr[roc]), "tpr": _floats(tpr[roc])},
        "pr_curve": {"precision": _floats(pr_precision[pr]), "recall": _floats(pr_recall[pr])},
    }


def calibration(
    ascending: np.ndarray, hits: np.ndarray, bins: int = CALIBRATION_BINS
) -> tuple[list[dict], float]:
    """Reliability bins (all ``bins`` of them; an empty one has null means) and the expected
    calibration error ``sum(n_b / N * |fraction_b - mean_b|)``, from :func:`sort_scores`'s
    arrays (``hits``: the scores of the responses that were positive, or right). Bin edges as
    ``sklearn.calibration.calibration_curve(strategy="uniform")``: ``(low, high]``, the first
    bin closed."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    cuts = np.r_[0, np.searchsorted(ascending, edges[1:-1], side="right"), ascending.size]
    counts = np.diff(cuts)
    positive = np.diff(np.r_[0, np.searchsorted(hits, edges[1:-1], side="right"), hits.size])
    sums = np.zeros(bins)
    filled = counts > 0
    if filled.any():
        sums[filled] = np.add.reduceat(ascending, cuts[:-1][filled])
    rows, ece = [], 0.0
    for b in range(bins):
        n = int(counts[b])
        mean = float(sums[b] / n) if n else None
        fraction = float(positive[b] / n) if n else None
        if n:
            ece += n / ascending.size * abs(fraction - mean)
        rows.append(
            {
                "bin": b,
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": n,
                "mean_predicted": mean,
                "fraction_positive": fraction,
            }
        )
    return rows, float(ece)


def threshold_grid(
    fps: np.ndarray, tps: np.ndarray, scores: np.ndarray, steps: int = THRESHOLD_STEPS
) -> dict:
    """True and false positives when ``p >= t`` is called positive, for t = 0, 1/steps, ..., 1
    (the threshold explorer reads the other counts off ``positives`` and ``negatives``), from
    :func:`binary_curve`'s counts at its distinct scores (highest first): no second sort."""
    thresholds = np.arange(steps + 1) / steps
    # How many distinct scores are >= t: the counts are those at the last of them.
    above = np.searchsorted(-scores, -thresholds, side="right")
    tp = np.where(above > 0, tps[above - 1], 0)
    fp = np.where(above > 0, fps[above - 1], 0)
    return {
        "thresholds": _floats(thresholds),
        "tp": [int(v) for v in tp],
        "fp": [int(v) for v in fp],
        "positives": int(tps[-1]),
        "negatives": int(fps[-1]),
    }


def threshold_figures(grid: dict, threshold: float) -> dict:
    """TP, FP, FN, TN, sensitivity, specificity, precision and F1 when a probability >=
    ``threshold`` (rounded to the grid's step) is called positive. Undefined rates are None."""
    steps = len(grid["thresholds"]) - 1
    index = min(steps, max(0, round(threshold * steps)))
    tp, fp = grid["tp"][index], grid["fp"][index]
    positives, negatives = grid["positives"], grid["negatives"]
    fn, tn = positives - tp, negatives - fp
    return {
        "threshold": grid["thresholds"][index],
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "sensitivity": _ratio(tp, positives) if positives else None,
        "specificity": _ratio(tn, negatives) if negatives else None,
        "precision": _ratio(tp, tp + fp) if tp + fp else None,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn) if tp + fp + fn else None,
        "accuracy": _ratio(tp + tn, positives + negatives),
    }


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def binary_block(y: np.ndarray, p: np.ndarray, positive_label: str) -> dict:
    """The ``classification.scores`` block of a two-label run: ``y`` whether each covered
    response's actual label is the positive one, ``p`` its probability of the positive
    label."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    ascending, positives = sort_scores(y, p)
    fps, tps, distinct = binary_curve(ascending, positives)
    bins, ece = calibration(ascending, positives)
    p_actual = np.clip(np.where(y, p, 1.0 - p), _EPS, 1 - _EPS)
    return {
        "count": int(p.size),
        "kind": "binary",
        "positive_label": positive_label,
        **_curves(fps, tps),
        "log_loss": float(-np.mean(np.log(p_actual))),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": ece,
        "calibration": bins,
        "thresholds": threshold_grid(fps, tps, distinct),
    }


def multiclass_block(
    labels: Sequence[str], scores: np.ndarray, actual: np.ndarray, predicted: np.ndarray
) -> dict:
    """The ``classification.scores`` block of a run with three labels or more.

    ``scores[i, k]``: response i's probability of ``labels[k]`` (0 where it gave none);
    ``actual`` / ``predicted``: indices into ``labels``. ROC AUC, average precision and the
    ROC curve (at most :data:`OVR_CURVE_POINTS` points) are one-vs-rest per label (labels
    with both positives and negatives among the responses), with the AUCs' macro mean and
    support-weighted mean; calibration bins the probability of the predicted label against
    whether it was right (top-label calibration)."""
    n = actual.size
    rows = np.arange(n)
    onehot = np.zeros_like(scores, dtype=bool)
    onehot[rows, actual] = True
    per_label: dict[str, dict] = {}
    for k, label in enumerate(labels):
        fps, tps, _ = binary_curve(*sort_scores(onehot[:, k], scores[:, k]))
        curves = _curves(fps, tps, OVR_CURVE_POINTS)
        per_label[label] = {
            "support": int(tps[-1]) if n else 0,
            "roc_auc": curves["roc_auc"],
            "average_precision": curves["average_precision"],
            "roc_curve": curves["roc_curve"],
        }
    scored = [entry for entry in per_label.values() if entry["roc_auc"] is not None]
    support = sum(entry["support"] for entry in scored)
    top = scores[rows, predicted]
    bins, ece = calibration(*sort_scores(predicted == actual, top))
    p_actual = np.clip(scores[rows, actual], _EPS, 1 - _EPS)
    return {
        "count": int(n),
        "kind": "multiclass",
        "roc_auc": float(np.mean([e["roc_auc"] for e in scored])) if scored else None,
        "roc_auc_weighted": (
            float(sum(e["roc_auc"] * e["support"] for e in scored) / support) if scored else None
        ),
        "average_precision": (
            float(np.mean([e["average_precision"] for e in scored])) if scored else None
        ),
        "roc_curve": None,
        "pr_curve": None,
        "per_label": per_label,
        "log_loss": float(-np.mean(np.log(p_actual))),
        "brier": float(np.mean(np.sum((scores - onehot) ** 2, axis=1))),
        "ece": ece,
        "calibration": bins,
        "thresholds": None,
    }
