"""Connector fixtures: a real OpenAI-compatible server on 127.0.0.1 and runs against it."""

import pytest

from runs.selection import register_run
from tests.baker_recipes import make_case
from tests.connectors.openai_server import OpenAIServer


@pytest.fixture
def openai_server():
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def cases(db):
    return [make_case(input_data={"text": f"review {i}: great"}) for i in range(6)]


@pytest.fixture
def make_run(cases):
    def make(endpoint: str, **config):
        return register_run(
            model_name="chat-model",
            model_version="1",
            model_type="nlp",
            model_endpoint=endpoint,
            config=config,
        )

    return make
