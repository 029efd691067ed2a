"""The rules the OpenAPI schema states that the API used to bend: each refused with a 400 (or a
409) naming the parameter, as the schema says (tests/api/test_schema.py checks the rest)."""

import json
import re

import pytest

from mleval_site.api_schema import ERROR_CODES, NO_NUL
from tests.api.test_schema import openapi_document


@pytest.mark.django_db
class TestParameters:
    @pytest.mark.parametrize("value", ["null", "0", "1001", "1.0", "-1", " 5", ""])
    def test_page_size_out_of_the_schema_is_a_400(self, as_persona, value):
        response = as_persona("viewer").get("/api/v1/runs/", {"page_size": value})
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["page_size"]

    def test_page_size_within_bounds(self, as_persona, make_case):
        make_case(), make_case()
        response = as_persona("viewer").get("/api/v1/cases/", {"page_size": "1"})
        assert response.status_code == 200 and len(response.json()["results"]) == 1

    @pytest.mark.parametrize("value", ["0.5", " 1", "1,", "1,,2", "a", "1" * 19])
    def test_ids_are_whole_numbers_separated_by_commas(self, as_persona, value):
        response = as_persona("viewer").get("/api/v1/cases/", {"ids": value})
        assert response.status_code == 400 and list(response.json()["errors"]) == ["ids"]

    def test_ids_select_those_cases(self, as_persona, make_case):
        first, _, third = make_case(), make_case(), make_case()
        response = as_persona("viewer").get("/api/v1/cases/", {"ids": f"{first.pk},{third.pk}"})
        assert sorted(case["id"] for case in response.json()["results"]) == [first.pk, third.pk]

    def test_patch_sends_ground_truth_with_its_output_type(self, as_persona, make_case):
        stored = make_case()
        url = f"/api/v1/cases/{stored.pk}/"
        client = as_persona("curator")
        alone = client.patch(url, json.dumps({"ground_truth": {"label": "b"}}), "application/json")
        assert alone.status_code == 400 and list(alone.json()["errors"]) == ["output_type"]
        body = {"ground_truth": {"label": "b"}, "output_type": "classification"}
        assert client.patch(url, json.dumps(body), "application/json").status_code == 200


def test_every_operation_documents_its_errors_in_the_one_format():
    document = openapi_document()
    assert document["components"]["schemas"]["Error"]["required"] == ["detail", "errors"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404", "414", "429"} <= codes, (method, path)
            if method in ("post", "patch"):
                assert {"409", "413", "415"} <= codes, (method, path)
            assert codes - {"200", "201", "202", "204"} <= set(ERROR_CODES), (method, path)
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] == "query" and schema.get("type") == "string":
                    assert {"pattern", "enum", "format"} & set(schema), (path, parameter)
    free_text = document["paths"]["/api/v1/cases/"]["get"]["parameters"]
    assert {"in": "query", "name": "q", "schema": {"type": "string", "pattern": NO_NUL}} in [
        {key: p[key] for key in ("in", "name", "schema")} for p in free_text
    ]


def endpoint_pattern_of(component: str) -> str:
    schema = openapi_document()["components"]["schemas"][component]
    return schema["properties"]["model_endpoint"]["anyOf"][1]["pattern"]


ENDPOINTS_REFUSED = [
    "http://\u00d7\u0000",  # NUL and non-ASCII: the old pattern's [^\s]+ took them
    "http://[",  # urlsplit: unclosed IPv6 bracket
    "http://[1.2.3.4]/",  # an IPv4 address in brackets
    "http://:80/",  # no host
    "http://host:65536/",
    " http://host/",  # not trimmed: as written
    "python:os:system",  # outside MLEVAL_PYTHON_ENDPOINT_MODULES
    "kserve-v2:http://[",
]
ENDPOINTS_ACCEPTED = [
    "http://model_server:8080/v1/predict?x=1#f",
    "https://user:pw@[::1]:443/",
    "openai:http://127.0.0.1:9/v1",
    "python:runs.demo_models:sentiment_classifier",
]


@pytest.mark.django_db
class TestEndpoints:
    """A run's endpoint: the schema's pattern is what the validators accept, no more, no less."""

    def post(self, client, endpoint: str):
        body = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
        body["model_endpoint"] = endpoint
        return client.post("/api/v1/runs/", json.dumps(body), "application/json")

    @pytest.mark.parametrize("endpoint", ENDPOINTS_REFUSED)
    def test_refused_by_schema_and_validator(self, as_persona, endpoint):
        assert not re.search(endpoint_pattern_of("RunRequest"), endpoint)
        response = self.post(as_persona("engineer"), endpoint)
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["model_endpoint"]

    @pytest.mark.parametrize("endpoint", ENDPOINTS_ACCEPTED)
    def test_accepted_by_schema_and_validator(self, as_persona, make_case, endpoint):
        make_case(model_type="nlp")
        assert re.search(endpoint_pattern_of("RunRequest"), endpoint)
        response = self.post(as_persona("engineer"), endpoint)
        assert response.status_code == 201, response.json()

    def test_an_unknown_connection_is_a_404_and_patch_takes_none(self, as_persona, make_case):
        make_case(model_type="nlp")
        client = as_persona("engineer")
        response = self.post(client, "connection:nothing-here")
        assert response.status_code == 404
        assert "no saved connection" in response.json()["errors"]["model_endpoint"][0]
        assert re.search(endpoint_pattern_of("RunRequest"), "connection:nothing-here")
        assert not re.search(endpoint_pattern_of("PatchedRunChangeRequest"), "connection:a")
        run = self.post(client, "").json()
        patched = client.patch(
            f"/api/v1/runs/{run['id']}/",
            json.dumps({"model_endpoint": "connection:a"}),
            "application/json",
        )
        assert patched.status_code == 400


@pytest.mark.django_db
def test_a_run_on_a_version_reads_back_as_its_schema_says(as_persona, make_case):
    """The CLI's find (admin, seed 3): a run on a version answers selection {"version": name},
    which the Run schema's closed CaseSelection refused."""
    import jsonschema

    from versions.freezing import freeze

    make_case(model_type="nlp")
    freeze("v1", selection={})
    body = {"model_name": "m", "model_version": "1", "model_type": "nlp", "version": "v1"}
    response = as_persona("engineer").post("/api/v1/runs/", json.dumps(body), "application/json")
    assert response.status_code == 201 and response.json()["selection"] == {"version": "v1"}
    document = openapi_document()
    schema = {"$ref": "#/components/schemas/Run", "components": document["components"]}
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
