"""The rules the OpenAPI schema states that the API used to bend: each refused with a 400 (or a
409) naming the parameter, as the schema says (tests/api/test_schema.py checks the rest)."""

import json

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
