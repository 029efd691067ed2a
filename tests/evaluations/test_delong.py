"""DeLong's test (evaluations.delong) against its definition and against a paired bootstrap.

The reference is DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3): 837-845, section
2: the structural components V10(X_i) = mean_j psi(X_i, Y_j) and V01(Y_j) = mean_i psi(X_i,
Y_j) with psi = 1, 1/2, 0 for >, =, <, their sample covariances S10, S01, and
Var(AUC_B - AUC_A) = c' (S10/m + S01/n) c with c = (-1, 1). Written here the slow way (m x n
kernel matrices) to check the fast midrank implementation; the bootstrap checks the variance
is the one of the AUC difference over resampled cases.
"""

import math

import numpy as np
import pytest
from scipy.stats import norm, rankdata
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from evaluations.delong import delong_test


def _by_definition(y, a, b):
    x_pos, x_neg = [s[y] for s in (a, b)], [s[~y] for s in (a, b)]
    v10, v01, aucs = [], [], []
    for positives, negatives in zip(x_pos, x_neg, strict=True):
        psi = (positives[:, None] > negatives[None, :]) + 0.5 * (
            positives[:, None] == negatives[None, :]
        )
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    c = np.array([-1.0, 1.0])
    variance = c @ (s10 / y.sum() + s01 / (~y).sum()) @ c
    return aucs, math.sqrt(variance)


def _auc(y, s):
    """Mann-Whitney AUC (the bootstrap's thousands of calls; roc_auc_score checks each)."""
    m, n = int(y.sum()), int((~y).sum())
    return (rankdata(s)[y].sum() - m * (m + 1) / 2) / (m * n)


@pytest.fixture(scope="module")
def two_models():
    """Two real classifiers' probabilities on the same breast_cancer test cases."""
    data = datasets.load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data[:, :4], data.target, test_size=0.4, random_state=0, stratify=data.target
    )
    a = GaussianNB().fit(x_train, y_train).predict_proba(x_test)[:, 1]
    b = LogisticRegression().fit(x_train, y_train).predict_proba(x_test)[:, 1]
    return y_test == 1, np.round(a, 3), np.round(b, 3)  # rounded: ties, as real scores have


def test_delong_equals_its_definition(two_models):
    y, a, b = two_models
    result = delong_test(y, a, b)
    (auc_a, auc_b), se = _by_definition(y, a, b)
    assert result["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert result["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result["auc_b"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert result["delta"] == pytest.approx(auc_b - auc_a, abs=1e-12)
    assert result["se"] == pytest.approx(se, rel=1e-9)
    assert result["p_value"] == pytest.approx(2 * norm.sf(abs(auc_b - auc_a) / se), rel=1e-9)
    low, high = result["ci95"]
    assert (high - low) / 2 == pytest.approx(1.959963984540054 * se, rel=1e-9)
    assert result["paired"] == len(y) and result["positives"] == int(y.sum())


def test_delong_standard_error_matches_a_paired_bootstrap(two_models):
    y, a, b = two_models
    rng = np.random.default_rng(7)
    deltas = []
    for _ in range(1000):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        deltas.append(_auc(y[i], b[i]) - _auc(y[i], a[i]))
    assert delong_test(y, a, b)["se"] == pytest.approx(np.std(deltas, ddof=1), rel=0.15)


def test_delong_identical_and_degenerate():
    y = np.array([True, False, True, False])
    s = np.array([0.9, 0.1, 0.4, 0.6])
    same = delong_test(y, s, s)
    assert (same["delta"], same["se"], same["p_value"]) == (0.0, 0.0, 1.0)
    assert delong_test(np.array([True, True]), np.array([0.1, 0.2]), np.array([0.3, 0.4])) is None
