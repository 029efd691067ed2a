"""Runs fixtures: a small golden set, a registered run, and a real local model server."""

import json
import threading
import time
from collections import defaultdict

import pytest
from django.db import connections
from pytest_httpserver import HTTPServer
from werkzeug import Response as WerkzeugResponse

from cases.models import TestCase
from runs.callers import ExecutionOptions
from runs.execution import ExecutionSummary, execute_run
from runs.models import ModelRun
from runs.selection import register_run
from tests.baker_recipes import make_case

SENTIMENT = "python:runs.demo_models:sentiment_classifier"


@pytest.fixture
def golden(db) -> list[TestCase]:
    """Eight golden nlp cases, plus cases a default selection must leave out."""
    cases = [make_case(input_data={"text": f"review {i}: great, love it"}) for i in range(8)]
    make_case(origin="ai-generated", is_verified=False)
    make_case(model_type="computer_vision", input_data={"embedding": [0.1] * 8})
    return cases


@pytest.fixture
def run(golden):
    return register_run(
        model_name="lexicon-sent", model_version="1.0", model_type="nlp", model_endpoint=SENTIMENT
    )


class ModelServer:
    """A real HTTP model endpoint (threaded, so concurrent calls overlap) recording its calls.

    `behaviour(case_id, attempt) -> (status, body, delay_seconds)`; by default it answers
    `{"label": "positive"}` at once. `calls[case_id]` holds each call's arrival time.
    """

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.calls: dict[int, list[float]] = defaultdict(list)
        self.payloads: list[dict] = []
        self.lock = threading.Lock()
        self.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0)
        server.expect_request("/predict", method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/predict")

    def _handle(self, request):
        payload = request.get_json()
        case_id = payload["test_case_id"]
        with self.lock:
            self.calls[case_id].append(time.time())
            self.payloads.append(payload)
            attempt = len(self.calls[case_id])
        status, body, delay = self.behaviour(case_id, attempt)
        if delay:
            time.sleep(delay)
        if not isinstance(body, str | bytes):
            body = json.dumps(body)
        return WerkzeugResponse(body, status=status, content_type="application/json")

    @property
    def total_calls(self) -> int:
        return sum(len(times) for times in self.calls.values())


@pytest.fixture
def model_server():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield ModelServer(server)
    server.clear()
    if server.is_running():
        server.stop()


def execute_concurrently(
    run: ModelRun, options: ExecutionOptions, executors: int = 3
) -> list[ExecutionSummary]:
    """Execute `run` from several threads at once, each on its own database connection, as
    several workers would; the executors' summaries."""
    summaries: list[ExecutionSummary] = []

    def execute() -> None:
        try:
            summaries.append(execute_run(ModelRun.objects.get(pk=run.pk), options))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=execute) for _ in range(executors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return summaries
