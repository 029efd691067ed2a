"""A scripted LLM judge: the connectors' OpenAI-compatible server
(tests/connectors/openai_server.py) on 127.0.0.1, answering each judge prompt by what the answer
under judgement says."""

import json
import re

import pytest
from django.db.models import JSONNull
from model_bakery import baker

from cases.models import TestCase
from runs.models import ModelRun, Response
from tests.connectors.openai_server import OpenAIServer, Reply, completion

ANSWER = re.compile(r"Answer: (.*)$", re.S)

# What the judge says about an answer (the model's output text), by its first word.
SCRIPT = {
    "right": lambda: completion(
        json.dumps({"reasoning": "Correct.", "score": 5}), prompt_tokens=100, completion_tokens=20
    ),
    "close": lambda: completion(
        json.dumps({"reasoning": "Partly.", "score": 3}), prompt_tokens=100, completion_tokens=20
    ),
    "wrong": lambda: completion(
        json.dumps({"reasoning": "Wrong.", "score": 1}), prompt_tokens=100, completion_tokens=20
    ),
    "garbled": lambda: completion("I think it is fine!", prompt_tokens=100, completion_tokens=5),
    "overscored": lambda: completion('{"reasoning": "Great", "score": 9}'),
    "fenced": lambda: completion('```json\n{"reasoning": "Fine.", "score": 4}\n```'),
}


def answer_of(request) -> str:
    return ANSWER.search(request.json()["messages"][-1]["content"])[1]


def scripted(request) -> Reply:
    text = answer_of(request)
    return Reply(body=SCRIPT[text.split()[0]]())


@pytest.fixture
def judge_server():
    with OpenAIServer() as server:
        server.behaviour = scripted
        yield server


def make_run(outputs: list, *, errors: list | None = None, truth=None) -> ModelRun:
    """A run with one response per output (a failed call where ``errors`` says so)."""
    run = baker.make(ModelRun, model_type="nlp", config={})
    cases = TestCase.objects.bulk_create(
        TestCase(
            input_data={"text": f"question {i}"},
            input_type="text",
            ground_truth=truth if truth is not None else {"text": f"reference {i}"},
            output_type="text",
        )
        for i in range(len(outputs))
    )
    errors = errors or [""] * len(outputs)
    Response.objects.bulk_create(
        Response(
            run=run,
            test_case=case,
            output_data=JSONNull() if output is None else {"text": output},
            error_message=error,
        )
        for case, output, error in zip(cases, outputs, errors, strict=True)
    )
    return run


def judge_spec(server, **params) -> str:
    values = {"endpoint": f"openai:{server.base_url}", "model": "judge-1", "scale": "1-5"}
    values.update(params)
    return "llm_judge:" + json.dumps(values)
