"""The report's ``regression`` block: MAE, RMSE, R², MAPE and the median absolute error of a
run's ``numeric_tolerance`` verdicts, by slice, with a predicted-vs-actual scatter and a
residual histogram.

The figures are aggregates in PostgreSQL (one statement, GROUPING SETS over the slices) from
the predicted and actual values the evaluator keeps in its metrics; the chart data is a
second statement: the histogram of residuals (predicted - actual) in
:data:`RESIDUAL_BINS` equal bins, and a deterministic sample of at most
:data:`SCATTER_POINTS` points (by a hash of the response id), whatever the run's size.
Malformed outputs (``metrics.error``) are left out; ``count`` says how many responses the
block covers. Definitions as scikit-learn's: R² = 1 - SS_res / SS_tot (1.0 for a perfect fit
of constant actuals, else 0.0 when SS_tot is 0, as ``force_finite``); MAPE = mean(|p - a| /
|a|) as a fraction, null when an actual is 0.
"""

from __future__ import annotations

import math
from typing import Any

from evaluations.reports.common import DOMAIN_EVALUATORS, SLICE_DIMENSIONS, TAGS_LATERAL, fetch

__all__ = ["RESIDUAL_BINS", "SCATTER_POINTS", "regression_block"]

RESIDUAL_BINS = 20
SCATTER_POINTS = 500

_ROWS = f"""
    SELECT (e.metrics->>'predicted')::float8 AS p, (e.metrics->>'actual')::float8 AS a,
           e.response_id, tc.category, tc.difficulty, tc.model_type, t.tag,
           coalesce(t.position, 1) = 1 AS first
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    JOIN test_cases tc ON tc.id = r.test_case_id
    {TAGS_LATERAL}
    WHERE r.run_id = %(run)s AND e.evaluator_type = %(evaluator)s
      AND NOT (e.metrics ? 'error')
      AND jsonb_typeof(e.metrics->'predicted') = 'number'
      AND jsonb_typeof(e.metrics->'actual') = 'number'
"""
# Each figure twice: over each verdict's first row (every set but the tags) and over every
# row (the tag set, where a verdict counts once per tag).
_FIGURES = (
    "count(*){f}",
    "sum(abs(v.p - v.a)){f}",
    "sum((v.p - v.a) ^ 2){f}",
    "var_pop(v.a){f}",
    "count(*) FILTER (WHERE v.a = 0{and_first})",
    "sum(abs(v.p - v.a) / abs(v.a)) FILTER (WHERE v.a <> 0{and_first})",
)
_FIRST = ", ".join(
    f.format(f=" FILTER (WHERE v.first)", and_first=" AND v.first") for f in _FIGURES
)
_EVERY = ", ".join(f.format(f="", and_first="") for f in _FIGURES)
_SUMMARY_SQL = f"""
SELECT GROUPING(v.category, v.difficulty, v.model_type, v.tag),
       v.category, v.difficulty, v.model_type, v.tag,
       {_FIRST},
       {_EVERY},
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.p - v.a)) FILTER (WHERE v.first),
       min(v.p - v.a), max(v.p - v.a)
FROM ({_ROWS}) v
GROUP BY GROUPING SETS ((), (v.category), (v.difficulty), (v.model_type), (v.tag))
"""
# GROUPING() masks (1 = not grouped) for (category, difficulty, model_type, tag).
_MASKS = {0b1111: None, 0b0111: "category", 0b1011: "difficulty", 0b1101: "model_type"}
_TAG_MASK = 0b1110

_CHARTS_SQL = f"""
SELECT 'bin', least(width_bucket(v.p - v.a, %(low)s, %(high)s, %(bins)s), %(bins)s),
       count(*), NULL::float8, NULL::float8
FROM ({_ROWS}) v WHERE v.first
GROUP BY 2
UNION ALL
(SELECT 'point', NULL, NULL, v.p, v.a
 FROM ({_ROWS}) v
 WHERE v.first AND (hashint8(v.response_id) & 2147483647) %% %(step)s = 0
 LIMIT %(points)s)
"""


def _figures(n: int, sum_abs: float, sum_sq: float, var: float, zeros: int, ape: Any) -> dict:
    """MAE, RMSE, R² and MAPE from one group's sums."""
    ss_tot = var * n
    if ss_tot > 0:
        r2: float = 1.0 - sum_sq / ss_tot
    else:
        r2 = 1.0 if sum_sq == 0 else 0.0
    return {
        "count": n,
        "mae": sum_abs / n,
        "rmse": math.sqrt(sum_sq / n),
        "r2": r2,
        "mape": None if zeros else float(ape or 0.0) / n,
    }


def regression_block(run_id: int) -> dict | None:
    """The block (None when the run has no well-formed numeric_tolerance verdict). Two
    statements."""
    params = {"run": run_id, "evaluator": DOMAIN_EVALUATORS["regression"]}
    rows = fetch(_SUMMARY_SQL, params)
    overall = next((row for row in rows if row[0] == 0b1111), None)
    if overall is None or not overall[5]:
        return None
    block: dict[str, Any] = {}
    slices: dict[str, list] = {dimension: [] for dimension in SLICE_DIMENSIONS}
    for row in rows:
        grouping, values = (
            row[0],
            dict(zip(("category", "difficulty", "model_type", "tag"), row[1:5], strict=True)),
        )
        first, every = row[5:11], row[11:17]
        if grouping == _TAG_MASK:
            if values["tag"] is not None:
                slices["tag"].append({"value": values["tag"], **_figures(*every)})
            continue
        if grouping not in _MASKS:
            continue
        dimension = _MASKS[grouping]
        if dimension is None:
            block = _figures(*first)
        else:
            value = values[dimension]
            slices[dimension].append(
                {"value": value if value is not None else "", **_figures(*first)}
            )
    median, low, high = overall[17:20]
    block["median_abs_error"] = float(median)
    for rows_ in slices.values():
        rows_.sort(key=lambda row: str(row["value"]))
    block["breakdowns"] = slices
    block.update(_charts(params, block["count"], float(low), float(high)))
    return block


def _charts(params: dict, count: int, low: float, high: float) -> dict:
    """The residual histogram and the scatter sample, in one statement."""
    if low == high:  # every residual equal: one bin around it
        low, high = low - 0.5, high + 0.5
    step = max(1, count // SCATTER_POINTS)
    chart_params = {
        **params,
        "low": low,
        "high": high,
        "bins": RESIDUAL_BINS,
        "step": step,
        "points": SCATTER_POINTS,
    }
    counts = [0] * RESIDUAL_BINS
    points = []
    for kind, bin_number, n, predicted, actual in fetch(_CHARTS_SQL, chart_params):
        if kind == "bin":
            counts[max(bin_number, 1) - 1] += n
        else:
            points.append([actual, predicted])
    points.sort()
    return {
        "residual_histogram": {"low": low, "high": high, "counts": counts},
        "scatter": {"actual": [a for a, _ in points], "predicted": [p for _, p in points]},
    }
