"""Rows for report tests: cases, runs, responses and verdicts shaped like the registry's."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cases.models import TestCase
from evaluations.evaluators import failed_call_verdict, run_evaluator, validate_params
from evaluations.models import Evaluation
from runs.models import ModelRun, Response


class Builder:
    """Short calls that make the rows a report reads, with the registry's real verdicts."""

    def __init__(self) -> None:
        self._versions = itertools.count(1)

    def case(self, ground_truth: Any, output_type: str = "classification", **fields) -> TestCase:
        fields.setdefault("input_data", {"text": "x"})
        fields.setdefault("input_type", "text")
        fields.setdefault("model_type", "nlp")
        return TestCase.objects.create(ground_truth=ground_truth, output_type=output_type, **fields)

    def run(self, model_name: str = "model", model_version: str = "", **fields) -> ModelRun:
        fields.setdefault("model_type", "nlp")
        fields.setdefault("status", ModelRun.Status.COMPLETED)
        version = model_version or f"{next(self._versions)}.0"
        run = ModelRun.objects.create(model_name=model_name, model_version=version, **fields)
        run.refresh_from_db()  # created_at comes from the database
        return run

    def respond(self, run: ModelRun, case: TestCase, output: Any, **fields) -> Response:
        return Response.objects.create(run=run, test_case=case, output_data=output, **fields)

    def judge(self, response: Response, evaluator: str, params: dict | None = None) -> Evaluation:
        """The verdict the pipeline would store: run_evaluator, or the failed-call verdict."""
        if response.error_message:
            verdict = failed_call_verdict(response.error_message)
        else:
            verdict = run_evaluator(
                evaluator,
                response.output_data,
                response.test_case.ground_truth,
                validate_params(evaluator, params),
            )
        return Evaluation.objects.create(
            response=response,
            evaluator_type=evaluator,
            score=verdict.score,
            passed=verdict.passed,
            metrics=verdict.metrics,
            feedback=verdict.feedback,
        )

    def verdict(
        self, response: Response, evaluator: str, score: float, passed: bool | None = None, **kw
    ) -> Evaluation:
        """A verdict with a chosen score (passed: score >= 0.5 unless said)."""
        return Evaluation.objects.create(
            response=response,
            evaluator_type=evaluator,
            score=score,
            passed=score >= 0.5 if passed is None else passed,
            metrics=kw.pop("metrics", {"evaluator_version": "1", "params": {}}),
            **kw,
        )


@pytest.fixture
def build(db) -> Builder:
    return Builder()
