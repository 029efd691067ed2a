"""The statistics behind run reports and run comparisons, in one place.

Pure functions over plain inputs (counts, sequences of numbers): the SQL in
``evaluations/reports/`` aggregates, these turn the aggregates into the
figures of the report and comparison JSON. No Django here, so the arithmetic
can be tested against reference libraries without a database.

Every function returns plain Python ``int``/``float``/``str`` values (never
numpy scalars), all finite, so results go straight into JSON.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

__all__ = [
    "BOOTSTRAP_MAX_PAIRS",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "NORMAL",
    "PERCENTILE",
    "MeanDeltaInterval",
    "classification_summary",
    "holm_adjust",
    "mcnemar_exact_p",
    "minimum_detectable_effect",
    "normal_mean_interval",
    "paired_bootstrap_ci",
    "pooled_detection",
    "pooled_forecast",
    "wilson_interval",
]

BOOTSTRAP_RESAMPLES = 10_000
#: Fixed so that the same two runs always get the same interval.
BOOTSTRAP_SEED = 20240101
#: Up to this many paired deltas the mean delta's interval is bootstrapped (about 0.35 s for
#: 10,000 resamples); past it the normal-theory interval is used (see paired_bootstrap_ci).
BOOTSTRAP_MAX_PAIRS = 10_000
#: The interval methods paired_bootstrap_ci reports.
PERCENTILE = "percentile"
NORMAL = "normal"

# Drawn indices per batch of resamples: bounds the bootstrap's memory to about 30 MB.
_BLOCK_ELEMENTS = 2_000_000


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(NormalDist().inv_cdf(0.5 + confidence / 2.0))


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 where undefined (the report's convention)."""
    return float(numerator) / float(denominator) if denominator else 0.0


# --- run report -----------------------------------------------------------------------------


def wilson_interval(passed: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a pass rate (as ``scipy.stats.binomtest(...).proportion_ci``).

    Wilson rather than the normal ("Wald") interval because pass rates sit near
    0 or 1 and golden sets are small, where Wald collapses to a zero-width or
    out-of-range interval. With ``total == 0`` nothing is known about the rate,
    so the answer is the whole range ``(0.0, 1.0)``. Cached: the leaderboard asks
    for the same (passed, total) of every run on every visit.
    """
    if total < 0 or passed < 0 or passed > total:
        raise ValueError(f"need 0 <= passed <= total, got passed={passed}, total={total}")
    _z(confidence)  # validates confidence
    if total == 0:
        return (0.0, 1.0)
    return _wilson(int(passed), int(total), float(confidence))


@functools.lru_cache(maxsize=4096)
def _wilson(passed: int, total: int, confidence: float) -> tuple[float, float]:
    """Newcombe's closed form, as ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``
    computes it (checked against statsmodels in the tests): no scipy import on a page."""
    z = _z(confidence)
    p = passed / total
    denominator = 2 * (total + z * z)
    centre = (2 * total * p + z * z) / denominator
    half = z / denominator * math.sqrt(4 * total * p * (1 - p) + z * z)
    low = 0.0 if passed == 0 else centre - half
    high = 1.0 if passed == total else centre + half
    return (max(0.0, float(low)), min(1.0, float(high)))


def classification_summary(
    labels: Sequence[str],
    matrix: Sequence[Sequence[int]],
    positive_label: str | None = None,
) -> dict:
    """The report's ``classification`` block from a confusion matrix.

    ``matrix[i][j]`` counts responses whose actual label is ``labels[i]`` and
    predicted label is ``labels[j]``. The block is normalised to the contract
    whatever order the caller used: labels that occur neither as actual nor as
    predicted are dropped and the rest sorted, the matrix permuted to match.
    Precision, recall and F1 are 0 where undefined (as scikit-learn with
    ``zero_division=0``); an empty matrix gives zeros, not an exception.
    ``binary`` is filled when exactly two labels occur, for ``positive_label``
    if it is one of them, else for the second in sorted order.
    """
    labels = [str(label) for label in labels]
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be distinct")
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.size == 0:  # no responses: an all-zero matrix, whatever its shape
        counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix must be {len(labels)} x {len(labels)}, got {counts.shape}")
    if (counts < 0).any():
        raise ValueError("confusion matrix counts must be non-negative")

    occurring = [i for i in range(len(labels)) if counts[i, :].any() or counts[:, i].any()]
    order = sorted(occurring, key=lambda i: labels[i])
    labels = [labels[i] for i in order]
    counts = counts[np.ix_(order, order)]

    tp = np.diag(counts)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    total = int(counts.sum())
    per_label: dict[str, dict] = {}
    f1s: list[float] = []
    for i, label in enumerate(labels):
        # 2tp / (2tp + fp + fn): the harmonic mean of P and R, and 0 (not undefined)
        # when one of them is undefined because tp is then 0 too.
        f1 = _ratio(2 * tp[i], support[i] + predicted[i])
        f1s.append(f1)
        per_label[label] = {
            "precision": _ratio(tp[i], predicted[i]),
            "recall": _ratio(tp[i], support[i]),
            "f1": f1,
            "support": int(support[i]),
        }

    binary = None
    if len(labels) == 2:
        pos = labels.index(positive_label) if positive_label in labels else 1
        neg = 1 - pos
        tp_, fn_ = int(counts[pos, pos]), int(counts[pos, neg])
        fp_, tn_ = int(counts[neg, pos]), int(counts[neg, neg])
        binary = {
            "positive_label": labels[pos],
            "tp": tp_,
            "fp": fp_,
            "fn": fn_,
            "tn": tn_,
            "sensitivity": _ratio(tp_, tp_ + fn_),
            "specificity": _ratio(tn_, tn_ + fp_),
        }

    return {
        "labels": labels,
        "confusion_matrix": [[int(c) for c in row] for row in counts],
        "per_label": per_label,
        "accuracy": _ratio(int(tp.sum()), total),
        "macro_f1": _ratio(sum(f1s), len(f1s)),
        "weighted_f1": _ratio(sum(f * int(s) for f, s in zip(f1s, support, strict=True)), total),
        "binary": binary,
    }


def pooled_detection(tp: int, fp: int, fn: int) -> dict:
    """Micro (pooled over all boxes of all responses) precision, recall and F1."""
    if min(tp, fp, fn) < 0:
        raise ValueError("detection counts must be non-negative")
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def pooled_forecast(
    n: int, sum_abs_error: float, sum_sq_error: float, sum_smape_terms: float
) -> dict:
    """MAE, RMSE and sMAPE pooled over all ``n`` forecast points of a run.

    ``sum_smape_terms`` is the sum of ``2|f - a| / (|a| + |f|)`` per point (0
    when both are 0), so sMAPE is a fraction in [0, 2]. Clamping absorbs the
    rounding of sums computed in SQL; with ``n == 0`` every figure is 0.
    """
    values = (sum_abs_error, sum_sq_error, sum_smape_terms)
    if n < 0 or not all(math.isfinite(v) for v in values):
        raise ValueError("pooled forecast sums must be finite with n >= 0")
    if n == 0:
        return {"mae": 0.0, "rmse": 0.0, "smape": 0.0}
    return {
        "mae": max(0.0, float(sum_abs_error) / n),
        "rmse": math.sqrt(max(0.0, float(sum_sq_error) / n)),
        "smape": min(2.0, max(0.0, float(sum_smape_terms) / n)),
    }


# --- run comparison -------------------------------------------------------------------------


def mcnemar_exact_p(regressions: int, improvements: int) -> float:
    """McNemar's exact test: two-sided binomial test of the discordant pairs.

    Under "no change" a discordant pair is as likely a regression as an
    improvement, so regressions ~ Binomial(regressions + improvements, 1/2).
    The concordant pairs carry no information about the change. 1.0 when there
    are no discordant pairs.
    """
    if regressions < 0 or improvements < 0:
        raise ValueError("discordant counts must be non-negative")
    discordant = regressions + improvements
    if discordant == 0:
        return 1.0
    # Binomial(n, 1/2) is symmetric: the two-sided p is twice the smaller tail (what
    # scipy.stats.binomtest answers). scipy.special, not scipy.stats: a page's first comparison
    # imports 0.3 s of scipy instead of 1 s (scipy.stats loads all its distributions).
    from scipy.special import bdtr

    smaller = min(int(regressions), int(improvements))
    if 2 * smaller == discordant:
        return 1.0
    return min(1.0, 2.0 * float(bdtr(smaller, discordant, 0.5)))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order.

    Used for the per-slice deltas: many slices tested at once would otherwise
    flag chance differences. Holm controls the family-wise error like
    Bonferroni but is uniformly more powerful, and needs no independence.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return []
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError("p-values must be in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return [float(v) for v in adjusted]


def minimum_detectable_effect(
    n_pairs: int, discordant_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """Smallest pass-rate change a paired (McNemar) test of this pairing could detect.

    Tells a user whether "no significant change" means "no change" or "too few
    cases to tell". Connor's (1987) normal approximation for McNemar's test
    with ``n`` pairs, discordant rate ``p_d`` and pass-rate change
    ``delta = p01 - p10`` needs::

        sqrt(n) * delta = z_a * sqrt(p_d) + z_b * sqrt(p_d - delta**2)

    with ``z_a = z(1 - alpha/2)``, ``z_b = z(power)``. A change ``delta`` forces
    at least ``delta`` discordance, so the rate used is ``max(p_d, delta)``; this
    also settles ``p_d == 0`` (no discordance observed) without an arbitrary
    floor: the answer is then the change that would make its own discordant
    pairs significant. Solving gives the closed form::

        K   = (z_a * sqrt(n) + z_b * sqrt(n + z_b**2 - z_a**2)) / (n + z_b**2)
        MDE = K * max(K, sqrt(p_d))

    (``K * sqrt(p_d)`` is Connor's solution when it is at most ``p_d``, ``K**2``
    the solution with ``p_d = delta`` otherwise.) Returns a fraction in [0, 1],
    or None when no change at all is detectable: no pairs, or too few
    (``n <= z_a**2``, about 3 at alpha 0.05).
    """
    if n_pairs < 0:
        raise ValueError(f"n_pairs must be >= 0, got {n_pairs}")
    if not 0.0 <= discordant_rate <= 1.0:
        raise ValueError(f"discordant_rate must be in [0, 1], got {discordant_rate!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    z_a = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    z_b = NormalDist().inv_cdf(power)
    n = float(n_pairs)
    if n <= z_a * z_a:
        return None
    k = (z_a * math.sqrt(n) + z_b * math.sqrt(n + z_b * z_b - z_a * z_a)) / (n + z_b * z_b)
    if k > 1.0:
        return None
    return float(min(1.0, k * max(k, math.sqrt(discordant_rate))))


class MeanDeltaInterval(NamedTuple):
    """A confidence interval of the mean paired delta and how it was computed.

    ``method`` is :data:`PERCENTILE` or :data:`NORMAL`; the comparison JSON carries it as
    ``bootstrap_method`` so the page can say which interval it shows.
    """

    low: float
    high: float
    method: str


def normal_mean_interval(
    n: int,
    mean: float,
    sd: float,
    lowest: float,
    highest: float,
    confidence: float = 0.95,
) -> MeanDeltaInterval:
    """:func:`paired_bootstrap_ci`'s normal-theory interval from the deltas' moments alone:
    ``mean ± z * sd / sqrt(n)`` (``sd`` the sample standard deviation), clamped to
    [``lowest``, ``highest``]. The comparison aggregates the moments in SQL past
    :data:`BOOTSTRAP_MAX_PAIRS` pairs instead of fetching every delta."""
    z = _z(confidence)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if lowest == highest:
        return MeanDeltaInterval(float(lowest), float(highest), NORMAL)
    half = z * max(0.0, float(sd)) / math.sqrt(n)
    low, high = float(mean) - half, float(mean) + half
    return MeanDeltaInterval(
        min(max(low, lowest), highest), min(max(high, lowest), highest), NORMAL
    )


def _percentile_bootstrap(
    x: np.ndarray, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """``scipy.stats.bootstrap(..., method="percentile")`` of the mean, without importing
    scipy.stats (1 s on a page's first comparison): the same indices, drawn in batches of rows
    from one generator (the stream does not depend on the batch size), the same linear
    quantiles. The tests check the two agree."""
    rng = np.random.default_rng(seed)
    batch = max(1, _BLOCK_ELEMENTS // x.size)  # memory bound; same result
    means = np.empty(resamples)
    for start in range(0, resamples, batch):
        rows = min(batch, resamples - start)
        means[start : start + rows] = x[rng.integers(0, x.size, size=(rows, x.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_bootstrap_ci(
    deltas: Sequence[float] | np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
    max_pairs: int | None = None,
) -> MeanDeltaInterval:
    """Interval of the mean of paired deltas (B - A): bootstrap up to ``max_pairs``, normal past.

    Up to ``max_pairs`` deltas (default :data:`BOOTSTRAP_MAX_PAIRS`, read at call time):
    the percentile interval (as ``scipy.stats.bootstrap``'s) over ``resamples`` resamples of the
    deltas, drawn with a generator seeded by ``seed``.
    Resampling pairs (not runs) keeps each case's two scores together, so the interval
    reflects the change, not the spread of case difficulty. The deltas are sorted first, so
    the result depends only on their multiset and the seed: the same comparison always shows
    the same interval.

    Past ``max_pairs``: the normal-theory interval ``mean ± z * s / sqrt(n)`` (``s`` the
    sample standard deviation). Deltas lie in [-1, 1], so by then the sampling distribution of
    their mean is normal to well within the bootstrap's own Monte Carlo error, and resampling
    would cost seconds per evaluator (about 0.35 s per 10,000 pairs on an idle core).

    Both are clamped to [min, max] of the deltas. Empty input gives ``(0.0, 0.0)``; deltas
    that are all equal give that value twice.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    _z(confidence)  # validates confidence
    x = np.asarray(deltas, dtype=np.float64).ravel()
    limit = BOOTSTRAP_MAX_PAIRS if max_pairs is None else max_pairs
    method = PERCENTILE if x.size <= limit else NORMAL
    if x.size == 0:
        return MeanDeltaInterval(0.0, 0.0, method)
    if not np.isfinite(x).all():
        raise ValueError("deltas must be finite")
    lowest, highest = float(x.min()), float(x.max())
    if lowest == highest:  # every resample mean is that value
        return MeanDeltaInterval(lowest, highest, method)
    if method == NORMAL:
        return normal_mean_interval(
            x.size, float(x.mean()), float(x.std(ddof=1)), lowest, highest, confidence
        )
    low, high = _percentile_bootstrap(np.sort(x), resamples, confidence, seed)
    return MeanDeltaInterval(
        min(max(float(low), lowest), highest), min(max(float(high), lowest), highest), method
    )
