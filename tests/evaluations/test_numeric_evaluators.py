"""numeric_tolerance and forecast_error (evaluations/evaluators/numeric.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import json
import math

import pytest

from tests.evaluations.scoring import assert_error, run

# --- numeric_tolerance ----------------------------------------------------------------


def test_numeric_within_default_relative_tolerance():
    # |101 - 100| / 100 = 0.01 <= rel_tol 0.01
    verdict = run("numeric_tolerance", {"value": 101}, {"value": 100})
    assert (verdict.score, verdict.passed) == (1.0, True)
    assert verdict.metrics["abs_error"] == 1.0
    assert verdict.metrics["rel_error"] == pytest.approx(0.01)
    assert (verdict.metrics["predicted"], verdict.metrics["actual"]) == (101.0, 100.0)


def test_numeric_outside_tolerance_scores_one_minus_relative_error():
    # |90 - 100| / 100 = 0.1 -> 0.9, not within tolerance so not passed at threshold 1.0
    verdict = run("numeric_tolerance", 90, {"value": 100})
    assert verdict.score == pytest.approx(0.9)
    assert verdict.passed is False
    assert verdict.metrics["within_tolerance"] is False
    # negative values: |-110 - -100| / 100 = 0.1
    assert run("numeric_tolerance", -110, -100).score == pytest.approx(0.9)
    # relative error 1.5 -> floor at 0
    assert run("numeric_tolerance", 250, 100).score == 0.0
    # a softer threshold
    assert run("numeric_tolerance", 90, 100, threshold=0.8).passed is True


def test_numeric_absolute_tolerance_and_zero_actual():
    zero = run("numeric_tolerance", 0.5, 0)
    assert zero.score == 0.0
    assert zero.metrics["rel_error"] is None
    assert zero.metrics["abs_error"] == 0.5
    assert run("numeric_tolerance", 0.5, 0, abs_tol=1).score == 1.0
    exact = run("numeric_tolerance", 0, 0)
    assert exact.score == 1.0
    assert exact.metrics["rel_error"] == 0.0
    # rel_tol 0: only the absolute tolerance counts
    assert run("numeric_tolerance", 100.5, 100, rel_tol=0, abs_tol=0.5).score == 1.0
    assert run("numeric_tolerance", 101, 100, rel_tol=0).score == pytest.approx(0.99)


def test_numeric_huge_values_stay_json_safe():
    verdict = run("numeric_tolerance", 1e308, -1e308)  # the difference overflows to inf
    assert verdict.score == 0.0
    assert verdict.metrics["abs_error"] is None
    json.dumps(verdict.metrics, allow_nan=False)


@pytest.mark.parametrize("output", ["3.2", True, None, {"value": math.nan}, {"value": math.inf}])
def test_numeric_malformed(output):
    assert_error(run("numeric_tolerance", output, {"value": 3.2}))


# --- forecast_error -------------------------------------------------------------------


def test_forecast_error():
    # errors 10, 20; mae 15; rmse sqrt((100 + 400) / 2); mape (0.1 + 0.1) / 2
    # smape terms 20/210 and 40/380
    verdict = run("forecast_error", {"values": [110, 180]}, {"values": [100, 200]})
    smape = (20 / 210 + 40 / 380) / 2
    assert verdict.score == pytest.approx(1 - smape / 2)
    assert verdict.passed is True  # default threshold 0.9
    m = verdict.metrics
    assert m["n"] == 2
    assert m["mae"] == pytest.approx(15)
    assert m["rmse"] == pytest.approx(math.sqrt(250))
    assert m["mape"] == pytest.approx(0.1)
    assert m["smape"] == pytest.approx(smape)
    assert m["sum_abs_error"] == pytest.approx(30)
    assert m["sum_sq_error"] == pytest.approx(500)
    assert m["sum_smape_terms"] == pytest.approx(20 / 210 + 40 / 380)


def test_forecast_zeros():
    # point 1: 0 vs 0 counts 0; point 2: 2*5/15 = 2/3; smape 1/3; mape undefined
    verdict = run("forecast_error", [0, 5], [0, 10])
    assert verdict.metrics["smape"] == pytest.approx(1 / 3)
    assert verdict.score == pytest.approx(1 - 1 / 6)
    assert verdict.metrics["mape"] is None
    assert verdict.metrics["mae"] == pytest.approx(2.5)
    assert verdict.passed is False
    worst = run("forecast_error", [5], [0])
    assert (worst.score, worst.metrics["smape"]) == (0.0, 2.0)
    assert run("forecast_error", [0, 0], [0, 0]).score == 1.0


def test_forecast_malformed_and_huge():
    assert_error(run("forecast_error", [1, 2], [1, 2, 3]), mentions="has 2 numbers")
    assert_error(run("forecast_error", [1, None], [1, 2]), mentions='"values"[1]')
    assert_error(run("forecast_error", [1], []), ground_truth=True)
    huge = run("forecast_error", [-1e308], [1e308])
    assert (huge.score, huge.metrics["smape"], huge.metrics["sum_abs_error"]) == (0.0, 2.0, None)
    json.dumps(huge.metrics, allow_nan=False)
