"""evaluations.stats against reference libraries and hand-computed values.

scikit-learn, statsmodels and scipy are the references (test-only for the first
two); nothing here is copied from the implementation's own output.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from evaluations.stats import (
    BOOTSTRAP_MAX_PAIRS,
    BOOTSTRAP_SEED,
    classification_summary,
    holm_adjust,
    mcnemar_exact_p,
    minimum_detectable_effect,
    paired_bootstrap_ci,
    pooled_detection,
    pooled_forecast,
    wilson_interval,
)

Z975 = 1.959963984540054  # standard normal 97.5% quantile
Z80 = 0.8416212335729143  # standard normal 80% quantile


def assert_plain(value: object) -> None:
    """JSON-ready: only builtins, finite floats, all the way down."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif isinstance(value, list | tuple):
        for item in value:
            assert_plain(item)
    elif isinstance(value, float):
        assert type(value) is float and math.isfinite(value)
    else:
        assert value is None or type(value) in (int, str, bool), type(value)


# --- Wilson ---------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(
    ("passed", "total"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (47, 50), (517, 1000)]
)
def test_wilson_matches_statsmodels(passed: int, total: int, confidence: float) -> None:
    low, high = wilson_interval(passed, total, confidence)
    ref_low, ref_high = proportion_confint(passed, total, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(max(0.0, ref_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, ref_high), abs=1e-12)
    assert_plain((low, high))


def test_wilson_by_hand_at_zero_successes() -> None:
    # p = 0: centre = half-width = (z²/2n) / (1 + z²/n), so the interval is [0, z²/(n + z²)].
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z975**2 / (10 + Z975**2), rel=1e-12)


def test_wilson_without_data_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("passed", "total"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(passed: int, total: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(passed, total)


@given(st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_observed_rate(counts: tuple[int, int]) -> None:
    passed, total = counts
    low, high = wilson_interval(passed, total)
    assert 0.0 <= low <= high <= 1.0
    if total:
        assert low <= passed / total <= high


# --- McNemar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regressions", "improvements"),
    [(0, 1), (1, 1), (0, 6), (6, 0), (2, 9), (9, 2), (15, 30), (120, 95), (500, 560)],
)
def test_mcnemar_matches_statsmodels_and_scipy(regressions: int, improvements: int) -> None:
    table = [[40, regressions], [improvements, 13]]  # concordant cells must not matter
    expected = mcnemar(table, exact=True).pvalue
    p = mcnemar_exact_p(regressions, improvements)
    assert p == pytest.approx(expected, rel=1e-9)
    scipy_p = sps.binomtest(improvements, regressions + improvements, 0.5).pvalue
    assert p == pytest.approx(scipy_p, rel=1e-9)
    assert type(p) is float


def test_mcnemar_by_hand() -> None:
    # Six discordant pairs all one way: 2 * (1/2)^6.
    assert mcnemar_exact_p(0, 6) == pytest.approx(0.03125)
    # Five: 2 * (1/2)^5 = 0.0625, not significant at 5%.
    assert mcnemar_exact_p(5, 0) == pytest.approx(0.0625)
    assert mcnemar_exact_p(1, 1) == 1.0


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0


# --- Holm -----------------------------------------------------------------------------------


def test_holm_by_hand_keeps_input_order() -> None:
    # Sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04).
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


@pytest.mark.parametrize("seed", range(6))
def test_holm_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 30))
    p = rng.random(m) ** 3
    p[rng.random(m) < 0.2] = 1.0
    if m > 3:
        p[1] = p[2]  # a tie
    _, expected, _, _ = multipletests(p, method="holm")
    adjusted = holm_adjust(p.tolist())
    assert adjusted == pytest.approx(expected.tolist(), abs=1e-12)
    assert_plain(adjusted)


def test_holm_empty() -> None:
    assert holm_adjust([]) == []


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_holm_is_monotone_and_capped(p: list[float]) -> None:
    adjusted = holm_adjust(p)
    assert all(raw <= adj <= 1.0 for raw, adj in zip(p, adjusted, strict=True))
    by_raw = [adj for _, adj in sorted(zip(p, adjusted, strict=True))]
    assert by_raw == sorted(by_raw)


# --- classification -------------------------------------------------------------------------


def _sklearn_block(y_true: list[str], y_pred: list[str]) -> tuple[list[str], np.ndarray]:
    labels = sorted(set(y_true) | set(y_pred))
    return labels, confusion_matrix(y_true, y_pred, labels=labels)


@pytest.mark.parametrize("seed", range(8))
def test_classification_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = ["ant", "bee", "cat", "dog", "eel", "fox"][: int(rng.integers(3, 7))]
    size = int(rng.integers(5, 300))
    y_true = [str(v) for v in rng.choice(pool[:-1], size=size)]  # last label: never actual
    y_pred = [str(v) for v in rng.choice(pool[1:], size=size)]  # first label: never predicted
    y_pred = [  # mostly right, but never the first label
        t if t != pool[0] and rng.random() < 0.5 else p for t, p in zip(y_true, y_pred, strict=True)
    ]
    y_pred[0] = pool[-1]
    y_true[0] = pool[0]
    labels, matrix = _sklearn_block(y_true, y_pred)

    block = classification_summary(labels, matrix.tolist())

    assert block["labels"] == labels
    assert block["confusion_matrix"] == matrix.tolist()
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    for i, label in enumerate(labels):
        row = block["per_label"][label]
        assert row["precision"] == pytest.approx(precision[i], abs=1e-12)
        assert row["recall"] == pytest.approx(recall[i], abs=1e-12)
        assert row["f1"] == pytest.approx(f1[i], abs=1e-12)
        assert row["support"] == support[i]
    assert block["per_label"][pool[0]]["precision"] == 0.0  # never predicted
    assert block["per_label"][pool[-1]]["recall"] == 0.0  # never actual
    assert block["per_label"][pool[-1]]["support"] == 0
    assert block["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    macro = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    weighted = f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    assert block["macro_f1"] == pytest.approx(macro, abs=1e-12)
    assert block["weighted_f1"] == pytest.approx(weighted, abs=1e-12)
    assert block["binary"] is None
    assert_plain(block)


def test_binary_by_hand() -> None:
    # actual no: 50 predicted no, 10 predicted yes; actual yes: 5 no, 35 yes.
    block = classification_summary(["no", "yes"], [[50, 10], [5, 35]])
    assert block["binary"] == {
        "positive_label": "yes",  # second in sorted order
        "tp": 35,
        "fp": 10,
        "fn": 5,
        "tn": 50,
        "sensitivity": pytest.approx(35 / 40),
        "specificity": pytest.approx(50 / 60),
    }
    assert block["accuracy"] == pytest.approx(85 / 100)
    assert block["per_label"]["yes"] == {
        "precision": pytest.approx(35 / 45),
        "recall": pytest.approx(35 / 40),
        "f1": pytest.approx(70 / 85),
        "support": 40,
    }
    assert block["per_label"]["no"]["f1"] == pytest.approx(100 / 115)
    assert block["macro_f1"] == pytest.approx((70 / 85 + 100 / 115) / 2)
    assert block["weighted_f1"] == pytest.approx((40 * 70 / 85 + 60 * 100 / 115) / 100)
    assert_plain(block)


def test_binary_positive_label_from_config() -> None:
    block = classification_summary(["no", "yes"], [[50, 10], [5, 35]], positive_label="no")
    assert block["binary"] == {
        "positive_label": "no",
        "tp": 50,
        "fp": 5,
        "fn": 10,
        "tn": 35,
        "sensitivity": pytest.approx(50 / 60),
        "specificity": pytest.approx(35 / 40),
    }
    other = classification_summary(["no", "yes"], [[50, 10], [5, 35]], positive_label="maybe")
    assert other["binary"]["positive_label"] == "yes"


def test_binary_matches_sklearn_confusion_matrix() -> None:
    y_true = ["spam", "ham", "spam", "spam", "ham", "ham", "ham", "spam", "ham"]
    y_pred = ["spam", "spam", "ham", "spam", "ham", "ham", "spam", "spam", "ham"]
    labels, matrix = _sklearn_block(y_true, y_pred)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=["ham", "spam"]).ravel()
    binary = classification_summary(labels, matrix.tolist())["binary"]
    assert (binary["tp"], binary["fp"], binary["fn"], binary["tn"]) == (tp, fp, fn, tn)
    assert binary["positive_label"] == "spam"


def test_classification_normalises_label_order_and_drops_absent_labels() -> None:
    # Same data as test_binary_by_hand, labels given unsorted plus one that never occurs.
    block = classification_summary(["yes", "unused", "no"], [[35, 0, 5], [0, 0, 0], [10, 0, 50]])
    assert block["labels"] == ["no", "yes"]
    assert block["confusion_matrix"] == [[50, 10], [5, 35]]
    assert block["binary"]["tp"] == 35


def test_single_label_has_no_binary_block() -> None:
    block = classification_summary(["cat"], [[7]])
    assert block["binary"] is None
    assert block["accuracy"] == 1.0
    assert block["per_label"]["cat"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 7}


@pytest.mark.parametrize(
    ("labels", "matrix"), [([], []), (["a", "b"], []), (["a", "b"], [[0, 0], [0, 0]])]
)
def test_classification_empty(labels: list[str], matrix: list[list[int]]) -> None:
    block = classification_summary(labels, matrix)
    assert block == {
        "labels": [],
        "confusion_matrix": [],
        "per_label": {},
        "accuracy": 0.0,
        "macro_f1": 0.0,
        "weighted_f1": 0.0,
        "binary": None,
    }


def test_classification_rejects_malformed_matrix() -> None:
    with pytest.raises(ValueError):
        classification_summary(["a", "b"], [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError):
        classification_summary(["a", "a"], [[1, 0], [0, 1]])
    with pytest.raises(ValueError):
        classification_summary(["a", "b"], [[1, -1], [0, 1]])


# --- pooled detection / forecast ------------------------------------------------------------


def test_pooled_detection_by_hand() -> None:
    result = pooled_detection(tp=6, fp=2, fn=4)
    assert result == {
        "precision": pytest.approx(6 / 8),
        "recall": pytest.approx(6 / 10),
        "f1": pytest.approx(2 * 0.75 * 0.6 / 1.35),
    }
    assert pooled_detection(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert pooled_detection(0, 3, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert_plain(result)


def test_pooled_forecast_by_hand() -> None:
    points = [(1.0, 2.0), (2.0, 2.0), (0.0, 0.0), (4.0, 1.0)]  # (actual, forecast)
    abs_errors = [abs(f - a) for a, f in points]
    smape_terms = [2 * abs(f - a) / (abs(a) + abs(f)) if a or f else 0.0 for a, f in points]
    result = pooled_forecast(
        len(points), sum(abs_errors), sum(e * e for e in abs_errors), sum(smape_terms)
    )
    assert result == {
        "mae": pytest.approx(4 / 4),
        "rmse": pytest.approx(math.sqrt(10 / 4)),
        "smape": pytest.approx((2 / 3 + 6 / 5) / 4),
    }
    assert pooled_forecast(0, 0.0, 0.0, 0.0) == {"mae": 0.0, "rmse": 0.0, "smape": 0.0}
    assert pooled_forecast(1, 1.0, 1.0, 2.0000000001)["smape"] == 2.0
    assert_plain(result)


# --- minimum detectable effect --------------------------------------------------------------


def connor_pairs_needed(delta: float, p_d: float) -> float:
    """Connor (1987): pairs needed for McNemar at alpha 0.05 (two-sided), power 0.8."""
    return (Z975 * math.sqrt(p_d) + Z80 * math.sqrt(p_d - delta**2)) ** 2 / delta**2


@pytest.mark.parametrize(("n", "p_d"), [(1000, 0.1), (200, 0.3), (50, 0.5), (5000, 0.02)])
def test_mde_solves_connors_sample_size(n: int, p_d: float) -> None:
    mde = minimum_detectable_effect(n, p_d)
    assert mde is not None and 0 < mde <= p_d
    assert connor_pairs_needed(mde, p_d) == pytest.approx(n, rel=1e-9)


def test_mde_by_hand_close_to_the_simple_formula() -> None:
    # The textbook shortcut sqrt(p_d) (z_a + z_b) / sqrt(n) ignores the delta² term: 2.80% here.
    assert minimum_detectable_effect(1000, 0.1) == pytest.approx(
        math.sqrt(0.1) * (Z975 + Z80) / math.sqrt(1000), rel=0.01
    )


def test_mde_without_observed_discordance_uses_the_discordance_of_the_change() -> None:
    # p_d = 0: the change itself is all discordance, so Connor with p_d = delta holds.
    n = 1000
    mde = minimum_detectable_effect(n, 0.0)
    assert mde is not None
    assert connor_pairs_needed(mde, mde) == pytest.approx(n, rel=1e-9)
    # About (z_a + z_b)^2 / n: the ~8 one-sided discordant pairs a real change needs.
    assert mde == pytest.approx((Z975 + Z80) ** 2 / n, rel=0.05)
    # A tiny observed discordance gives the same answer as none at all.
    assert minimum_detectable_effect(n, 1e-6) == pytest.approx(mde)


def test_mde_has_the_power_it_promises() -> None:
    """At delta = MDE the exact McNemar test rejects about 80% of the time."""
    n, p_d = 400, 0.2
    delta = minimum_detectable_effect(n, p_d)
    assert delta is not None
    # Discordant count D ~ Bin(n, p_d); improvements | D ~ Bin(D, (p_d + delta) / (2 p_d)).
    power = 0.0
    for d in range(1, n + 1):
        k = np.arange(d + 1)
        p_exact = np.minimum(1.0, 2 * sps.binom.cdf(np.minimum(k, d - k), d, 0.5))
        reject = p_exact <= 0.05
        power += (
            sps.binom.pmf(d, n, p_d) * sps.binom.pmf(k, d, (p_d + delta) / (2 * p_d))[reject].sum()
        )
    assert power == pytest.approx(0.8, abs=0.04)


def test_mde_shrinks_with_more_pairs_and_stays_a_fraction() -> None:
    for p_d in (0.0, 0.05, 0.3, 1.0):
        values = [minimum_detectable_effect(n, p_d) for n in (4, 5, 10, 30, 100, 1000, 10**6)]
        assert all(v is not None and 0.0 <= v <= 1.0 for v in values)
        assert values == sorted(values, reverse=True)
        assert len(set(values)) == len(values)
        assert_plain(values)
    assert minimum_detectable_effect(200, 0.1) < minimum_detectable_effect(200, 0.4)


def test_mde_none_when_nothing_is_detectable() -> None:
    assert minimum_detectable_effect(0, 0.0) is None
    assert minimum_detectable_effect(0, 0.5) is None
    assert minimum_detectable_effect(3, 1.0) is None  # 3 pairs: even 3 of 3 gives p = 0.25


@pytest.mark.parametrize(
    "kwargs",
    [{"n_pairs": -1, "discordant_rate": 0.1}, {"n_pairs": 10, "discordant_rate": 1.5}],
)
def test_mde_rejects_bad_input(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        minimum_detectable_effect(**kwargs)


# --- paired bootstrap -----------------------------------------------------------------------


def numpy_percentile_bootstrap(deltas, resamples: int, seed: int) -> tuple[float, float]:
    """The contract by hand: resample the sorted deltas with replacement (indices from a
    generator seeded with ``seed``), take each resample's mean, read the 2.5% and 97.5%
    quantiles (linear interpolation) of those means."""
    x = np.sort(np.asarray(deltas, dtype=float))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def normal_interval(deltas: np.ndarray) -> tuple[float, float]:
    """Large-sample expectation: mean ± z·s/√n with the sample standard deviation."""
    half = Z975 * deltas.std(ddof=1) / math.sqrt(deltas.size)
    return deltas.mean() - half, deltas.mean() + half


@pytest.mark.parametrize(
    "deltas",
    [
        np.random.default_rng(3).normal(0.05, 0.3, size=501),  # continuous, odd size
        [0.0] * 80 + [1.0] * 15 + [-1.0] * 5,  # pass/fail scores
        np.round(np.random.default_rng(4).gamma(2.0, 0.1, 2000) - 0.2, 2),  # skewed, ties
    ],
    ids=["continuous", "binary", "skewed"],
)
def test_bootstrap_equals_plain_numpy_resampling_and_scipy(deltas) -> None:
    interval = paired_bootstrap_ci(deltas)
    assert interval.method == "percentile"
    low, high, _ = interval
    assert (low, high) == pytest.approx(
        numpy_percentile_bootstrap(deltas, 10_000, BOOTSTRAP_SEED), rel=1e-12, abs=1e-15
    )
    reference = sps.bootstrap(
        (np.sort(np.asarray(deltas, dtype=float)),),
        np.mean,
        n_resamples=10_000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-12, abs=1e-15)
    assert_plain(interval)


def test_bootstrap_passes_resamples_seed_and_confidence_through() -> None:
    deltas = np.random.default_rng(8).uniform(-0.5, 0.7, 300)
    low, high, method = paired_bootstrap_ci(deltas, resamples=2000, seed=7, confidence=0.9)
    assert method == "percentile"
    x = np.sort(deltas)
    rng = np.random.default_rng(7)
    means = x[rng.integers(0, x.size, size=(2000, x.size))].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.05, 0.95])), rel=1e-12)


def test_bootstrap_is_deterministic_with_its_seed() -> None:
    deltas = np.random.default_rng(3).normal(0.05, 0.3, size=500)
    first = paired_bootstrap_ci(deltas)
    assert paired_bootstrap_ci(deltas.tolist()) == first
    assert paired_bootstrap_ci(deltas, seed=BOOTSTRAP_SEED) == first
    assert paired_bootstrap_ci(deltas, seed=BOOTSTRAP_SEED + 1) != first
    assert paired_bootstrap_ci(deltas[::-1]) == first  # order of the pairs does not matter
    assert_plain(first)


@pytest.mark.parametrize(
    "deltas",
    [
        [0.0] * 80 + [1.0] * 15 + [-1.0] * 5,
        np.random.default_rng(0).uniform(-0.2, 0.6, 2000),
    ],
    ids=["binary", "continuous"],
)
def test_bootstrap_contains_the_mean_and_matches_normal_theory(deltas: list[float]) -> None:
    x = np.asarray(deltas, dtype=float)
    low, high, _ = paired_bootstrap_ci(x)
    assert low < x.mean() < high
    ref_low, ref_high = normal_interval(x)
    half = (ref_high - ref_low) / 2
    assert low == pytest.approx(ref_low, abs=0.1 * half)
    assert high == pytest.approx(ref_high, abs=0.1 * half)


def test_bootstrap_of_a_known_population_covers_its_mean() -> None:
    rng = np.random.default_rng(11)
    deltas = rng.choice([-1.0, 0.0, 1.0], p=[0.1, 0.7, 0.2], size=3000)  # true mean 0.1
    low, high, _ = paired_bootstrap_ci(deltas)
    assert low < 0.1 < high


def test_bootstrap_edge_cases() -> None:
    assert paired_bootstrap_ci([]) == (0.0, 0.0, "percentile")
    assert paired_bootstrap_ci(np.array([])) == (0.0, 0.0, "percentile")
    assert paired_bootstrap_ci([0.25]) == (0.25, 0.25, "percentile")
    assert paired_bootstrap_ci([0.3] * 1000) == (0.3, 0.3, "percentile")
    assert paired_bootstrap_ci([-0.5] * (BOOTSTRAP_MAX_PAIRS + 1)) == (-0.5, -0.5, "normal")
    with pytest.raises(ValueError):
        paired_bootstrap_ci([0.1, float("nan")])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([0.1, 0.2], resamples=0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([0.1, 0.2], confidence=1.0)


def test_method_switches_past_max_pairs() -> None:
    x = np.random.default_rng(2).uniform(-1, 1, 51)
    assert paired_bootstrap_ci(x, max_pairs=51).method == "percentile"
    assert paired_bootstrap_ci(x, max_pairs=50).method == "normal"
    assert paired_bootstrap_ci(x, max_pairs=50)[:2] == pytest.approx(normal_interval(x), rel=1e-12)
    assert BOOTSTRAP_MAX_PAIRS == 10_000


def test_normal_branch_is_the_closed_form_on_a_million_binary_pairs() -> None:
    rng = np.random.default_rng(5)
    a = rng.random(1_000_000) < 0.70
    b = rng.random(1_000_000) < 0.72
    deltas = b.astype(float) - a.astype(float)
    interval = paired_bootstrap_ci(deltas)
    assert interval.method == "normal"
    # By hand from the counts: s² = (n Σd² - (Σd)²) / (n (n - 1)), d in {-1, 0, 1}.
    n, total, squares = deltas.size, deltas.sum(), np.abs(deltas).sum()
    mean = total / n
    s = math.sqrt((n * squares - total * total) / (n * (n - 1)))
    half = Z975 * s / math.sqrt(n)
    assert interval[:2] == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert_plain(interval)


def test_normal_branch_matches_statsmodels_on_large_continuous_deltas() -> None:
    rng = np.random.default_rng(6)
    a = rng.random(200_000)
    deltas = np.clip(a + rng.normal(0.01, 0.2, a.size), 0, 1) - a
    interval = paired_bootstrap_ci(deltas)
    assert interval.method == "normal"
    reference = DescrStatsW(deltas).zconfint_mean(alpha=0.05)
    assert interval[:2] == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("seed", range(2))
def test_bootstrap_and_normal_agree_at_the_switch(seed: int) -> None:
    """At BOOTSTRAP_MAX_PAIRS even skewed deltas give the two methods the same interval
    within a few percent of its half-width (the bootstrap's own Monte Carlo error)."""
    rng = np.random.default_rng(seed)
    deltas = rng.choice([-1.0, 0.0, 0.5, 1.0], p=[0.01, 0.95, 0.02, 0.02], size=BOOTSTRAP_MAX_PAIRS)
    boot = paired_bootstrap_ci(deltas)
    normal = paired_bootstrap_ci(deltas, max_pairs=0)
    assert (boot.method, normal.method) == ("percentile", "normal")
    half = (normal.high - normal.low) / 2
    assert boot.low == pytest.approx(normal.low, abs=0.05 * half)
    assert boot.high == pytest.approx(normal.high, abs=0.05 * half)


# --- start-up cost ---------------------------------------------------------------------------


def test_scipy_loads_on_first_use_not_with_the_urlconf() -> None:
    """Every web and worker process imports the URLconf; scipy (~80 MB) waits for a statistic."""
    code = (
        "import sys, django; django.setup(); import mleval_site.urls, evaluations.stats; "
        "print(sorted(m for m in ('scipy', 'statsmodels', 'sklearn') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
