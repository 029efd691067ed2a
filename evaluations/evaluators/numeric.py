"""Numeric evaluators: a single value (regression) and a series (forecast)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cases.shapes import ShapeError, coerce_number, coerce_series

from .base import Evaluator, Example, Param, Verdict, finite_or_none, ground_truth, threshold_param


def numeric_tolerance(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """1 within tolerance, else max(0, 1 - relative error)."""
    actual = ground_truth(coerce_number, truth)
    predicted = coerce_number(output)
    abs_error = abs(predicted - actual)  # may overflow to inf for opposite huge values
    if actual:
        rel_error: float | None = abs_error / abs(actual)
    else:
        rel_error = 0.0 if abs_error == 0 else None  # undefined against an actual of 0
    within = abs_error <= params["abs_tol"] or (
        rel_error is not None and rel_error <= params["rel_tol"]
    )
    if within:
        score = 1.0
    elif rel_error is None:
        score = 0.0
    else:
        score = max(0.0, 1.0 - rel_error)
    if within:
        feedback = f"Predicted {predicted:g} is within tolerance of {actual:g}."
    elif rel_error is not None and math.isfinite(rel_error):
        feedback = f"Predicted {predicted:g}, expected {actual:g} (off by {rel_error:.1%})."
    else:
        feedback = f"Predicted {predicted:g}, expected {actual:g}."
    metrics = {
        "abs_error": finite_or_none(abs_error),
        "rel_error": None if rel_error is None else finite_or_none(rel_error),
        "predicted": predicted,
        "actual": actual,
        "within_tolerance": within,
    }
    return Verdict(score, score >= params["threshold"], metrics, feedback)


def _smape_term(actual: float, predicted: float) -> float:
    """2|p - a| / (|a| + |p|) in [0, 2]; 0 when both are 0. Scaled so huge values
    cannot overflow to inf/inf."""
    scale = max(abs(actual), abs(predicted))
    if scale == 0:
        return 0.0
    a, p = actual / scale, predicted / scale
    return 2 * abs(p - a) / (abs(a) + abs(p))


def forecast_error(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """Point-wise errors of a forecast; score max(0, 1 - sMAPE/2).

    The sums are in the metrics so a report can pool MAE, RMSE and sMAPE over
    all points of all responses.
    """
    actual = ground_truth(coerce_series, truth)
    predicted = coerce_series(output)
    n = len(actual)
    if len(predicted) != n:
        raise ShapeError(f'"values" has {len(predicted)} numbers but the ground truth has {n}')
    sum_abs = sum_sq = sum_smape = sum_ape = 0.0
    mape_defined = True
    for a, p in zip(actual, predicted, strict=True):
        error = abs(p - a)
        sum_abs += error
        sum_sq += error * error
        sum_smape += _smape_term(a, p)
        if a:
            sum_ape += error / abs(a)
        else:
            mape_defined = False
    smape = sum_smape / n
    score = max(0.0, 1.0 - smape / 2)
    mae = sum_abs / n
    rmse = math.sqrt(sum_sq / n)
    metrics = {
        "n": n,
        "mae": finite_or_none(mae),
        "rmse": finite_or_none(rmse),
        "mape": finite_or_none(sum_ape / n) if mape_defined else None,
        "smape": smape,
        "sum_abs_error": finite_or_none(sum_abs),
        "sum_sq_error": finite_or_none(sum_sq),
        "sum_smape_terms": sum_smape,
    }
    feedback = f"sMAPE {smape:.1%} over {n} point{'s' if n != 1 else ''} (MAE {mae:.4g})."
    return Verdict(score, score >= params["threshold"], metrics, feedback)


EVALUATORS = [
    Evaluator(
        name="numeric_tolerance",
        version="1",
        description=(
            "1 when |predicted - actual| <= abs_tol or the relative error <= rel_tol; "
            "otherwise max(0, 1 - relative error). Against an actual of 0 the relative "
            "error is undefined (None) and a miss beyond abs_tol scores 0."
        ),
        expects='output and ground truth {"value": number} or a bare number (finite)',
        passed_when="score >= threshold (by default: within tolerance)",
        params=(
            Param(
                "abs_tol",
                "number",
                1e-9,
                "absolute tolerance; the default only absorbs float rounding",
                minimum=0.0,
            ),
            Param(
                "rel_tol",
                "number",
                0.01,
                "relative tolerance as a fraction of |actual| (0.01 = 1%)",
                minimum=0.0,
            ),
            threshold_param(1.0),
        ),
        example=Example({"value": 3.1}, {"value": 3.2}),
        score=numeric_tolerance,
    ),
    Evaluator(
        name="forecast_error",
        version="1",
        description=(
            "max(0, 1 - sMAPE/2), sMAPE a fraction in [0, 2] (a 0/0 point counts 0). "
            "Metrics: mae, rmse, mape (None when an actual is 0), smape, n and the sums "
            "sum_abs_error, sum_sq_error, sum_smape_terms for pooling."
        ),
        expects=(
            'output and ground truth {"values": [number]} or a bare list, same length, '
            "at least one value"
        ),
        passed_when="score >= threshold (0.9 means sMAPE <= 20%)",
        params=(threshold_param(0.9),),
        example=Example({"values": [10, 12, 9]}, {"values": [11, 12, 10]}),
        score=forecast_error,
    ),
]
