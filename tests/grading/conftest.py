"""Grading fixtures: a run whose answers people grade, the graders, and llm_judge verdicts."""

from __future__ import annotations

import pytest
from model_bakery import baker

from accounts.roles import GRADER
from evaluations.models import Evaluation
from grading.assigning import create_task
from runs.models import ModelRun, Response
from tests.baker_recipes import make_case


class GradedRun:
    """A completed run of `size` answered responses (half in category "a", half "b"), each with
    an llm_judge verdict that passes the even-numbered ones, plus one failed call."""

    def __init__(self, size: int = 12) -> None:
        self.run = baker.make(
            ModelRun, model_name="chat", model_version="1", model_type="llm", status="completed"
        )
        self.responses: list[Response] = []
        for i in range(size):
            case = make_case(
                input_data={"text": f"question {i}"},
                ground_truth={"text": f"answer {i}"},
                output_type="text",
                category="a" if i < size // 2 else "b",
            )
            response = baker.make(
                Response, run=self.run, test_case=case, output_data={"text": f"reply {i}"}
            )
            baker.make(
                Evaluation,
                response=response,
                evaluator_type="llm_judge",
                score=1.0 if i % 2 == 0 else 0.0,
                passed=i % 2 == 0,
                metrics={"rationale": f"judged {i}"},
                feedback=f"The judge's rationale {i}",
            )
            self.responses.append(response)
        self.failed = baker.make(
            Response,
            run=self.run,
            test_case=make_case(),
            output_data={},
            error_message="timeout",
        )


@pytest.fixture
def graded_run(db) -> GradedRun:
    return GradedRun()


@pytest.fixture
def graders(make_user) -> list:
    return [make_user(GRADER, name) for name in ("alice", "bob", "carol")]


@pytest.fixture
def task(graded_run, graders, engineer):
    """Every answered response of the run, two graders each among alice, bob and carol."""
    return create_task(
        graded_run.run, name="Helpfulness", graders=graders, overlap=2, created_by=engineer
    )
