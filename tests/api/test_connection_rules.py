"""POST/PATCH /api/v1/connections/ accept exactly what their schema says (runs/connection_api.py):
each body below is refused (400) or accepted as the hand-written request schema states, and a
taken name is a 409 (the data's state, not a malformed request)."""

import json

import pytest
from jsonschema import Draft202012Validator

from tests.api.test_schema import openapi_document

GOOD = {"name": "chat-1", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}


def request_schema() -> Draft202012Validator:
    document = openapi_document()
    schema = {**document["components"]["schemas"]["ConnectionRequest"]}
    schema["$defs"] = document["components"]["schemas"]
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    return Draft202012Validator(json.loads(text))


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        ({}, True),
        ({"name": "chät"}, False),  # the model's \\w would take it; the schema says ASCII
        ({"name": 7}, False),
        ({"model": 7}, False),  # DRF's CharField would store "7"
        ({"model": "   "}, False),
        ({"model": ""}, True),
        ({"base_url": "http://models.internal:8080/v1"}, True),
        ({"base_url": "http://localhost:65536/"}, False),
        ({"base_url": "ftp://host.example.com/"}, False),
        ({"batch_size": 0}, False),
        ({"batch_size": 10_000}, True),
        ({"rate_limit": "600/minute"}, True),
        ({"rate_limit": "\u0663/second"}, False),  # an Arabic-Indic digit: Python's \\d, not ours
        ({"rate_limit": ""}, True),
        ({"headers": {"X-Api-Key": "plain"}}, False),
        ({"headers": {"X-Api-Key": "${API_KEY}"}}, True),
        ({"headers": {"X-Trace": "a${b"}}, False),
        ({"headers": {"Host": "x"}}, False),
        ({"headers": {"X-Trace": "two\nlines"}}, False),
        ({"params": {"temperature": 0}}, True),
        ({"params": {"model": "x"}}, False),
        ({"input_price_per_million": "2.5"}, True),
        ({"input_price_per_million": 2.5}, False),
        ({"input_price_per_million": "1e2"}, False),
        ({"input_price_per_million": ""}, False),
        ({"output_price_per_million": None}, True),
    ],
)
def test_the_api_and_its_schema_agree(change, accepted, engineer, login):
    body = {**GOOD, **change}
    response = login(engineer).post("/api/v1/connections/", body, content_type="application/json")
    assert response.status_code == (201 if accepted else 400), response.content
    assert request_schema().is_valid(body) is accepted


def test_a_taken_name_is_a_conflict(engineer, login):
    client = login(engineer)
    assert (
        client.post("/api/v1/connections/", GOOD, content_type="application/json").status_code
        == 201
    )
    again = client.post("/api/v1/connections/", GOOD, content_type="application/json")
    assert again.status_code == 409


def test_a_response_line_with_an_unknown_key_is_refused_as_its_schema_says(engineer, login):
    """Found by the schemathesis CLI: the schema allowed extra keys that ingestion refuses."""
    component = openapi_document()["components"]["schemas"]["ResponseInRequest"]
    assert component["additionalProperties"] is False
