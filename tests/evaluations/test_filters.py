"""The report pages' parameters (evaluations.filters), parsed once for the pages and the API:
errors name the parameter."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from evaluations.filters import ComparisonCasesForm, FailingCasesForm, RunPairForm
from runs.models import ModelRun


@pytest.fixture
def runs(db):
    return [
        ModelRun.objects.create(model_name="m", model_version=v, model_type="nlp")
        for v in ("1", "2")
    ]


def test_run_pair_resolves_both_runs_in_one_query(runs, django_assert_num_queries):
    form = RunPairForm({"a": str(runs[0].pk), "b": f" {runs[1].pk} "})
    with django_assert_num_queries(1):
        assert form.is_valid()
    assert form.runs() == (runs[0], runs[1])


@pytest.mark.parametrize(
    "query, errors",
    [
        ({}, {"a": "give a run id (a number).", "b": "give a run id (a number)."}),
        ({"a": "abc"}, {"a": "give a run id (a number), got 'abc'."}),
        ({"a": "0"}, {"a": "Ensure this value is greater than or equal to 1."}),
        ({"b": str(2**63)}, {"b": f"Ensure this value is less than or equal to {2**63 - 1}."}),
    ],
)
def test_run_pair_errors_name_the_parameter(runs, query, errors):
    form = RunPairForm({"a": str(runs[0].pk), "b": str(runs[1].pk), **query} if query else {})
    assert not form.is_valid()
    assert {name: messages[0] for name, messages in form.errors.items()} == errors
    assert not form.only_missing_runs()


def test_missing_runs_are_told_apart(runs):
    form = RunPairForm({"a": str(runs[0].pk), "b": "999999"})
    assert not form.is_valid()
    assert form.messages() == ["Run B: there is no run #999999."]
    assert form.only_missing_runs()


def test_failing_cases_filters_follow_the_slice_dimensions():
    form = FailingCasesForm({"evaluator": " label_match ", "tag": "t1", "colour": "red"})
    assert form.is_valid()
    assert form.cleaned_data["evaluator"] == "label_match"
    assert form.slices() == {"category": "", "difficulty": "", "model_type": "", "tag": "t1"}
    long = FailingCasesForm({"category": "x" * 101})
    assert not long.is_valid() and list(long.errors) == ["category"]


def test_comparison_cases_change_must_be_a_change_kind():
    assert ComparisonCasesForm({"change": "regression"}).is_valid()
    assert list(ComparisonCasesForm({"change": "worse"}).errors) == ["change"]


def test_pages_and_api_answer_400_naming_the_parameter(runs, login, viewer):
    client = login(viewer)
    report = reverse("evaluations:run-report", args=[runs[0].pk])
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "failing"}
    response = client.get(report, {"tag": "t" * 101}, **htmx)
    assert response.status_code == 400 and response.content.decode().startswith("tag: ")
    compare = reverse("evaluations:compare")
    response = client.get(compare, {"a": runs[0].pk, "b": runs[1].pk, "change": "worse"})
    assert response.status_code == 400 and response.content.decode().startswith("change: ")
    _, token = ApiToken.objects.issue(viewer, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get("/api/v1/compare/", {"a": runs[0].pk, "b": "-3"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"b"}
    assert api.get("/api/v1/compare/", {"a": runs[0].pk, "b": 999999}).status_code == 404
    response = api.get("/api/v1/compare/", {"a": runs[0].pk, "b": runs[1].pk, "case_limit": -1})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"case_limit"}
