"""The client's paths, methods and query parameters exist in the server's OpenAPI schema."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from mleval_client import ENDPOINTS


def drift(endpoints: dict, schema: dict) -> list[str]:
    """Every client operation the schema does not have, as one line each."""
    problems = []
    for name, (method, path, params) in endpoints.items():
        operation = schema["paths"].get(path, {}).get(method.lower())
        if operation is None:
            problems.append(f"{name}: no {method} {path} in the schema")
            continue
        known = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        problems += [f"{name}: no query parameter {p!r}" for p in params if p not in known]
    return problems


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_client_operation_is_in_the_schema(schema):
    assert drift(ENDPOINTS, schema) == []


def test_drift_is_caught(schema):
    renamed = {"runs.push": ("POST", "/api/v1/runs/{id}/responses/", ())}
    moved = {"gate": ("GET", "/api/v1/gate/", ("baseline", "threshold"))}
    assert drift(renamed, schema) == [
        "runs.push: no POST /api/v1/runs/{id}/responses/ in the schema"
    ]
    assert drift(moved, schema) == ["gate: no query parameter 'threshold'"]
