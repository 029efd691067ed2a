"""How far people agree with each other, and how far an automatic evaluator agrees with them.

Pure functions of plain arrays (the SQL that gathers them is grading.figures):

- between graders: Krippendorff's alpha (the `krippendorff` package; nominal on pass/fail,
  interval on rubric scores), and Cohen's kappa for each pair of graders who share responses;
- an evaluator against the graders' majority: Cohen's kappa, accuracy and the pass/fail
  confusion.

Every figure comes with a 95% percentile bootstrap interval (responses resampled with
replacement, RESAMPLES times, a fixed seed) and `n`, the responses it rests on. Kappa is
computed here (a few lines of arithmetic, vectorised over the resamples) and checked against
scikit-learn's cohen_kappa_score in the tests. A figure that is undefined (too few responses,
or no variation, where chance agreement is 1) is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import krippendorff
import numpy as np

RESAMPLES = 2000
SEED = 19  # the number: any fixed seed makes intervals reproducible
MIN_PAIRED = 2


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _interval(values: np.ndarray) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size < RESAMPLES // 2:  # mostly undefined resamples: no honest interval
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def kappa_binary(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two pass(1)/fail(0) raters along the last axis (nan where undefined)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    observed = (a == b).mean(axis=-1)
    pa, pb = a.mean(axis=-1), b.mean(axis=-1)
    chance = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - chance) / (1 - chance)
    return np.where(np.isclose(chance, 1.0), np.nan, kappa)


def paired_figures(a: Sequence[bool], b: Sequence[bool]) -> dict:
    """kappa and accuracy (agreement) of two pass/fail raters on the same responses, with
    bootstrap intervals, and the confusion (a is the rater compared, b the reference)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n = int(x.size)
    figures = {
        "n": n,
        "kappa": None,
        "kappa_ci95": None,
        "accuracy": None,
        "accuracy_ci95": None,
        "confusion": {
            "both_pass": int(((x == 1) & (y == 1)).sum()),
            "both_fail": int(((x == 0) & (y == 0)).sum()),
            "pass_fail": int(((x == 1) & (y == 0)).sum()),
            "fail_pass": int(((x == 0) & (y == 1)).sum()),
        },
    }
    if n < MIN_PAIRED:
        return figures
    index = _rng().integers(0, n, size=(RESAMPLES, n))
    xs, ys = x[index], y[index]
    figures["kappa"] = _number(kappa_binary(x, y))
    figures["kappa_ci95"] = _interval(kappa_binary(xs, ys))
    figures["accuracy"] = float((x == y).mean())
    figures["accuracy_ci95"] = _interval((xs == ys).mean(axis=1))
    return figures


def _alpha(data: np.ndarray, level: str) -> float:
    try:
        return krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    except (ValueError, ZeroDivisionError):  # one value only, or no pairable unit
        return float("nan")


def _unit_statistics(table: np.ndarray, level: str) -> np.ndarray:
    """Per unit (pairable units only): [m_u, D_u, pooled sums...] such that alpha of any
    multiset of units is 1 - D_o/D_e computed from their weighted sums (Krippendorff 2011:
    D_o = sum_u D_u / n, D_u = sum_ck n_uc n_uk d2_ck / (m_u - 1); D_e from pooled counts)."""
    values = table.T
    present = np.isfinite(values)
    m = present.sum(axis=1).astype(float)
    if level == "nominal":
        categories = np.unique(values[present])
        counts = np.stack([(values == c).sum(axis=1) for c in categories], axis=1).astype(float)
        pair = m**2 - (counts**2).sum(axis=1)  # sum over c != k of n_uc n_uk
        pooled = counts
    else:  # interval: sum_ck n_uc n_uk (v_c - v_k)^2 = 2 (m S2 - S1^2)
        v = np.where(present, values, 0.0)
        s1, s2 = v.sum(axis=1), (v**2).sum(axis=1)
        pair = 2 * (m * s2 - s1**2)
        pooled = np.stack([s1, s2], axis=1)
    return np.column_stack([m, pair / (m - 1), pooled])


def _alpha_from_sums(sums: np.ndarray, level: str) -> np.ndarray:
    """alpha from weighted sums of _unit_statistics (rows: resamples)."""
    n, observed = sums[:, 0], sums[:, 1]
    if level == "nominal":
        expected = (n**2 - (sums[:, 2:] ** 2).sum(axis=1)) / (n * (n - 1))
    else:
        expected = 2 * (n * sums[:, 3] - sums[:, 2] ** 2) / (n * (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (observed / n) / expected
    return np.where(np.isclose(expected, 0), np.nan, alpha)


def _bootstrap_alpha(table: np.ndarray, level: str) -> np.ndarray:
    """alpha of RESAMPLES resamples of the units, vectorised: each resample's weighted sums
    of the per-unit statistics (a matrix product), in chunks to bound memory."""
    stats = _unit_statistics(table, level)
    n = stats.shape[0]
    index = _rng().integers(0, n, size=(RESAMPLES, n))
    out = []
    for chunk in np.array_split(index, max(1, RESAMPLES * n // 2_000_000)):
        weights = np.stack([np.bincount(row, minlength=n) for row in chunk]).astype(float)
        out.append(_alpha_from_sums(weights @ stats, level))
    return np.concatenate(out)


def alpha_figures(table: np.ndarray, level: str = "nominal") -> dict:
    """Krippendorff's alpha of a raters x units table (nan: not rated), with a bootstrap
    interval over units; only units rated by at least two raters count (`n`). The point
    estimate is the `krippendorff` package's; the resamples use the same formula on
    per-unit sufficient statistics (equal to the package's alpha; tested)."""
    table = np.asarray(table, dtype=float)
    if table.ndim != 2:
        return {"n": 0, "alpha": None, "alpha_ci95": None}
    pairable = (np.isfinite(table).sum(axis=0) >= 2) if table.size else np.zeros(0, bool)
    table = table[:, pairable]
    n = int(table.shape[1])
    if n < MIN_PAIRED:
        return {"n": n, "alpha": None, "alpha_ci95": None}
    point = _alpha(table, level)
    if not np.isfinite(point):
        return {"n": n, "alpha": None, "alpha_ci95": None}
    return {"n": n, "alpha": float(point), "alpha_ci95": _interval(_bootstrap_alpha(table, level))}


def rater_table(grades: Iterable[tuple[int, str, float]]) -> tuple[list[str], np.ndarray]:
    """(raters, raters x units table) from (unit, rater, value) triples."""
    grades = list(grades)
    raters = sorted({rater for _, rater, _ in grades})
    units = sorted({unit for unit, _, _ in grades})
    row = {rater: i for i, rater in enumerate(raters)}
    col = {unit: j for j, unit in enumerate(units)}
    table = np.full((len(raters), len(units)), np.nan)
    for unit, rater, value in grades:
        table[row[rater], col[unit]] = value
    return raters, table


def graders_agreement(grades: Iterable[tuple[int, str, bool, float | None]]) -> dict:
    """Agreement between graders from (unit, grader, passed, score) rows: alpha on pass/fail,
    alpha on scores (interval) when scores were given, and Cohen's kappa per pair."""
    grades = list(grades)
    raters, table = rater_table((u, g, float(p)) for u, g, p, _ in grades)
    scored = [(u, g, float(s)) for u, g, _, s in grades if s is not None]
    figures = {"graders": len(raters), **alpha_figures(table, "nominal")}
    figures["scores"] = alpha_figures(rater_table(scored)[1], "interval") if scored else None
    pairs = []
    for (i, first), (j, second) in combinations(enumerate(raters), 2):
        both = np.isfinite(table[i]) & np.isfinite(table[j])
        if both.sum() >= MIN_PAIRED:
            pair = paired_figures(table[i][both] == 1, table[j][both] == 1)
            pairs.append({"a": first, "b": second, **pair})
    figures["pairs"] = pairs
    return figures


def evaluator_agreement(rows: Iterable[tuple[str, bool, bool]]) -> dict[str, dict]:
    """Per evaluator, from (evaluator, its passed, the graders' majority passed) rows: its
    kappa, accuracy and confusion against the people (`pass_fail`: it passed, people failed)."""
    by_evaluator: dict[str, tuple[list[bool], list[bool]]] = {}
    for evaluator, passed, human in rows:
        judged, people = by_evaluator.setdefault(evaluator, ([], []))
        judged.append(passed)
        people.append(human)
    return {
        name: paired_figures(judged, people)
        for name, (judged, people) in sorted(by_evaluator.items())
    }
