"""Inputs that gave a 500 (issue 14): each is a form error or a 4xx naming the parameter.

The JSON rules (what jsonb refuses, the depth limit) live in mleval_site.jsonsafe; the case
filters in cases.filters.TestCaseFilterSet; every page and the API reach them.
"""

import json
from urllib.parse import quote

import pytest
from django.test import Client

from accounts.models import ApiToken
from cases.models import TestCase
from mleval_site import jsonsafe
from runs.models import ModelRun
from tests.runs.conftest import make_case

DEEP = "[" * 3000 + "]" * 3000
BAD_JSON_FILTERS = {
    "nan": "a=NaN",
    "infinity": "a=-Infinity",
    "overflow": "a=1e400",
    "nul": 'a="\\u0000"',
    "surrogate": 'a="\\ud800"',
    "nul_key": "a\x00b=1",
    "deep_value": "a=" + DEEP,
    "deep_key": ".".join(["k"] * 3000) + "=1",
}
BAD_FILTERS = {
    **{name: {"json": value} for name, value in BAD_JSON_FILTERS.items()},
    "tags_all_nul": {"tags_all": "\x00"},
    "tags_nul": {"tags": "a\x00"},
    "q_nul": {"q": "a\x00"},
    "category_nul": {"category": "\x00"},
    "ids_nan": {"ids": "1,NaN"},
    "date_overflow": {"created_after": "99999-01-01"},
}


def token_client(user) -> Client:
    _, raw = ApiToken.objects.issue(user, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def cases(db):
    return [make_case() for _ in range(3)]


@pytest.mark.django_db
class TestCaseFilterPages:
    @pytest.mark.parametrize("params", BAD_FILTERS.values(), ids=BAD_FILTERS.keys())
    def test_list_export_and_run_form_show_the_parameter_s_error(
        self, login, engineer, cases, params
    ):
        client = login(engineer)
        name = next(iter(params))
        for url in ("/cases/", "/cases/export/", "/runs/new/"):
            page = client.get(url, params)
            assert page.status_code == 200, url
            if url != "/runs/new/":  # the run form shows the count's message (below)
                assert f'<div class="flash error">{name}: ' in page.content.decode(), url
        download = client.get("/cases/export/", {**params, "format": "jsonl"})
        assert download.status_code == 200 and not hasattr(download, "streaming_content")
        count = client.get("/runs/new/count/", {**params, "model_type": "nlp"})
        assert count.status_code == 200 and f"{name}:" in count.content.decode()

    @pytest.mark.parametrize("params", BAD_FILTERS.values(), ids=BAD_FILTERS.keys())
    def test_bulk_all_matching_refuses_and_changes_nothing(self, login, curator, cases, params):
        filters = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        answer = login(curator).post(
            "/cases/bulk/",
            {"action": "category", "value": "x", "target": "all", "filters": filters},
            follow=True,
        )
        assert answer.status_code == 200
        assert not TestCase.objects.filter(category="x").exists()

    def test_run_registration_names_the_filter(self, login, engineer, cases):
        page = login(engineer).post(
            "/runs/new/",
            {"model_name": "m", "model_version": "1", "model_type": "nlp", "json": "a=1e400"},
        )
        assert page.status_code == 200 and b"64-bit float" in page.content
        assert not ModelRun.objects.exists()

    def test_the_messages_say_what_and_the_limit(self):
        from cases.filters import TestCaseFilterSet

        def error(value: str) -> str:
            filterset = TestCaseFilterSet({"json": value})
            assert not filterset.is_valid()
            return " ".join(filterset.errors["json"])

        assert "NaN is not valid JSON" in error("a=NaN")
        assert "64-bit float" in error("a=1e400")
        assert "\\u0000" in error('a="\\u0000"')
        assert "surrogate" in error('a="\\ud800"')
        assert f"{jsonsafe.MAX_DEPTH} levels" in error("a=" + DEEP)
        assert f"{jsonsafe.MAX_DEPTH} levels" in error(".".join(["k"] * 3000) + "=1")
        assert TestCaseFilterSet({"json": "a=" + "[" * 99 + "1" + "]" * 99}).is_valid()


@pytest.mark.django_db
class TestTamperedCursors:
    def test_a_page_link_with_an_overflowing_number_starts_again(self, login, viewer, cases):
        page = login(viewer).get("/cases/", {"after": "WzFlNDAwXQ=="})  # [1e400]
        assert page.status_code == 200 and b"This page link is not valid" in page.content
        assert all(f"/cases/{case.pk}/" in page.content.decode() for case in cases)

    @pytest.mark.parametrize("cursor", ["cD1hYmM=", "cD0xZTQwMA==", "cD0lMDA=", "garbage"])
    def test_an_api_cursor_whose_position_is_not_an_id_is_a_400(self, viewer, cases, cursor):
        answer = token_client(viewer).get("/api/v1/cases/", {"cursor": cursor})
        assert answer.status_code == 400
        assert answer.json()["errors"]["cursor"][0].startswith("Invalid cursor")

    def test_an_api_cursor_of_another_sort_too(self, viewer, cases):
        client = token_client(viewer)
        answer = client.get("/api/v1/cases/", {"cursor": "cD1hYmM=", "sort": "updated_at"})
        assert answer.status_code == 400
        good = client.get("/api/v1/cases/", {"page_size": 1}).json()["next"]
        assert client.get(good).status_code == 200


@pytest.mark.django_db
class TestRunSelectionOverTheApi:
    @pytest.mark.parametrize(
        ("selection", "field"),
        [
            ({"tags": {"a": 1}}, "selection.tags"),
            ({"tags": [1, 2]}, "selection.tags"),
            ({"created_after": 5}, "selection.created_after"),
            ({"created_after": "yesterday"}, "selection.created_after"),
            ({"colour": "red"}, "selection.colour"),
            ({"is_verified": "maybe"}, "selection.is_verified"),
            ({"json": "a=NaN"}, "selection.json"),
            ({"category": "\ud800"}, "selection.category"),
            ({"category": "a\u0000"}, "selection.category"),
        ],
    )
    def test_a_malformed_selection_is_a_400_naming_the_field(
        self, engineer, cases, selection, field
    ):
        answer = token_client(engineer).post(
            "/api/v1/runs/",
            {"model_name": "m", "model_version": "1", "model_type": "nlp", "selection": selection},
            content_type="application/json",
        )
        assert answer.status_code == 400, answer.content
        assert field in answer.json()["errors"], answer.json()
        assert not ModelRun.objects.exists()

    def test_a_well_formed_selection_still_registers(self, engineer, cases):
        answer = token_client(engineer).post(
            "/api/v1/runs/",
            {
                "model_name": "m",
                "model_version": "1",
                "model_type": "nlp",
                "selection": {"tags": [], "is_verified": True, "category": "sentiment"},
            },
            content_type="application/json",
        )
        assert answer.status_code == 201 and answer.json()["total_cases"] == 3


@pytest.mark.django_db
class TestDeepJson:
    """3,000 levels anywhere JSON is read: a 400 or a form error saying the limit."""

    def test_api_bodies(self, curator, engineer, cases):
        limit = f"{jsonsafe.MAX_DEPTH} levels"
        body = '{"input_data": {"a": ' + DEEP + "}}"
        answer = token_client(curator).post("/api/v1/cases/", body, "application/json")
        assert answer.status_code == 400 and limit in answer.json()["detail"]
        run = ModelRun.objects.create(model_name="m", model_version="1", model_type="nlp")
        client = token_client(engineer)
        line = f'{{"test_case_id": {cases[0].pk}, "output_data": {DEEP}}}'
        answer = client.post(f"/api/v1/runs/{run.pk}/responses/", line, "application/x-ndjson")
        assert answer.status_code == 400 and limit in json.dumps(answer.json())
        answer = client.post(f"/api/v1/runs/{run.pk}/responses/", f"[{line}]", "application/json")
        assert answer.status_code == 400 and limit in answer.json()["detail"]
        body = '{"model_name": "m", "model_version": "2", "model_type": "nlp", "config": '
        answer = client.post("/api/v1/runs/", body + DEEP + "}", "application/json")
        assert answer.status_code == 400 and limit in answer.json()["detail"]
        shallow_but_too_deep = "[" * 150 + "]" * 150  # parses, but past the limit
        answer = client.post("/api/v1/runs/", body + shallow_but_too_deep + "}", "application/json")
        assert answer.status_code == 400 and limit in answer.json()["detail"]

    def test_pages(self, login, curator, engineer, cases):
        limit = f"{jsonsafe.MAX_DEPTH} levels"
        page = login(curator).post(
            "/cases/new/",
            {
                "model_type": "nlp",
                "input_type": "text",
                "input_data": '{"a": ' + DEEP + "}",
                "output_type": "classification",
                "ground_truth": '{"label": "positive"}',
            },
        )
        assert page.status_code == 200 and limit in page.content.decode()
        hint = login(curator).post(
            "/cases/check-json/", {"field": "input_data", "input_data": DEEP}
        )
        assert hint.status_code == 200 and limit in hint.content.decode()
        page = login(engineer).post(
            "/runs/new/",
            {"model_name": "m", "model_version": "1", "model_type": "nlp", "config": DEEP},
        )
        assert page.status_code == 200 and limit in page.content.decode()
        assert not ModelRun.objects.exists()

    def test_evaluator_specs(self):
        from evaluations.evaluators.registry import EvaluatorConfigError, parse_evaluator_spec

        with pytest.raises(EvaluatorConfigError, match=f"{jsonsafe.MAX_DEPTH} levels"):
            parse_evaluator_spec('exact_match:{"a": ' + DEEP + "}")
