"""DeLong's test for two correlated ROC AUCs: two runs' scores for the same cases.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44(3),
837-845; computed with the midrank algorithm of Sun & Xu (2014), "Fast implementation of
DeLong's algorithm for comparing the areas under correlated receiver operating characteristic
curves", IEEE Signal Processing Letters 21(11), 1389-1393 (O(n log n) instead of O(m n)).
``tests/evaluations/test_delong.py`` checks it against the definition's O(m n) structural
components and against a paired bootstrap.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["delong_test"]


def _components(scores: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and the structural components of each row of ``scores`` (positives first)."""
    from scipy.stats import rankdata  # on first use: the URLconf imports this module (1 s)

    positives, negatives = scores[:, :m], scores[:, m:]
    n = negatives.shape[1]
    tx = rankdata(positives, axis=1)
    ty = rankdata(negatives, axis=1)
    tz = rankdata(scores, axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # per positive: the share of negatives it outranks
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: the share of positives outranking it
    return aucs, v10, v01


def delong_test(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> dict | None:
    """AUC of A and of B on the same responses, their difference B - A, its standard error,
    95% interval and two-sided p-value (normal). ``y``: whether each case is positive. None
    when a class is absent (no AUC)."""
    from scipy.stats import norm

    y = np.asarray(y, dtype=bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        return None
    order = np.r_[np.flatnonzero(y), np.flatnonzero(~y)]
    scores = np.vstack([np.asarray(score_a, float)[order], np.asarray(score_b, float)[order]])
    aucs, v10, v01 = _components(scores, m)
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    delta = float(aucs[1] - aucs[0])
    se = math.sqrt(max(variance, 0.0))
    if se > 0:
        p_value = float(2 * norm.sf(abs(delta) / se))
    else:
        p_value = 1.0 if delta == 0 else 0.0
    half = float(norm.ppf(0.975)) * se
    return {
        "paired": m + n,
        "positives": m,
        "negatives": n,
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "delta": delta,
        "se": se,
        "ci95": [delta - half, delta + half],
        "p_value": p_value,
        "method": "delong",
    }
