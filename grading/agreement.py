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


def alpha_figures(table: np.ndarray, level: str = "nominal") -> dict:
    """Krippendorff's alpha of a raters x units table (nan: not rated), with a bootstrap
    interval over units; only units rated by at least two raters count (`n`)."""
    table = np.asarray(table, dtype=float)
    if table.ndim != 2:
        return {"n": 0, "alpha": None, "alpha_ci95": None}
    pairable = (np.isfinite(table).sum(axis=0) >= 2) if table.size else np.zeros(0, bool)
    table = table[:, pairable]
    n = int(table.shape[1])
    if n < MIN_PAIRED:
        return {"n": n, "alpha": None, "alpha_ci95": None}
    point = _alpha(table, level)
    index = _rng().integers(0, n, size=(RESAMPLES, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        resampled = np.array([_alpha(table[:, row], level) for row in index])
    return {"n": n, "alpha": _number(point), "alpha_ci95": _interval(resampled)}


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
