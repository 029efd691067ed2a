"""Helpers of the evaluator tests: score one response as the pipeline does, and check an error
verdict."""

from evaluations.evaluators import run_evaluator, validate_params


def run(name, output, truth, **params):
    return run_evaluator(name, output, truth, validate_params(name, params))


def assert_error(verdict, *, ground_truth=False, mentions=""):
    assert verdict.score == 0.0
    assert verdict.passed is False
    assert "error" in verdict.metrics
    assert mentions in verdict.metrics["error"]
    assert mentions in verdict.feedback
    assert verdict.metrics.get("ground_truth_error", False) is ground_truth
    assert "internal_error" not in verdict.metrics
