"""/api/v1/ evaluate, execute, tasks, report and compare: per persona, and end to end with the
real task worker (scoring and execution happen in `db_worker`, as in production)."""

import json
import uuid

import jsonschema
import pytest
from model_bakery import baker

from cases.models import TestCase
from evaluations.evaluators import installed_evaluators
from evaluations.models import Evaluation
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests.api.test_schema import openapi_document

RUNS = "/api/v1/runs/"


def evaluate_item_validator() -> jsonschema.Draft202012Validator:
    """The served schema's evaluator item, its references resolved within the document."""
    document = openapi_document()
    item = document["components"]["schemas"]["EvaluateRequest"]["properties"]["evaluators"]
    schema = {**item["items"], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def post(client, url: str, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def make_run(labels: list[str], version: str = "1", endpoint: str = "") -> ModelRun:
    """A run over fresh golden sentiment cases, answered with `labels` (truth: positive)."""
    cases = [
        baker.make(
            TestCase,
            input_data={"text": f"case {i}"},
            input_type="text",
            output_type="classification",
            ground_truth={"label": "positive"},
            model_type="nlp",
            category="sentiment",
        )
        for i in range(len(labels))
    ]
    run = register_run(
        model_name="bert",
        model_version=version,
        model_type="nlp",
        model_endpoint=endpoint,
        selection={"ids": ",".join(str(case.pk) for case in cases)},
    )
    ingest_responses(
        run,
        [
            {"test_case_id": case.pk, "output_data": {"label": label}}
            for case, label in zip(cases, labels, strict=True)
        ],
    )
    return run


@pytest.fixture
def run(db) -> ModelRun:
    return make_run(["positive", "negative", "positive"])


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("persona", ["viewer", "curator"])
    def test_viewer_and_curator_cannot_score_or_execute(self, persona, run, as_persona):
        client = as_persona(persona)
        assert post(client, f"{RUNS}{run.pk}/evaluate/").status_code == 403
        assert post(client, f"{RUNS}{run.pk}/execute/").status_code == 403

    @pytest.mark.parametrize("persona", ["anonymous", "outsider"])
    def test_anonymous_401_and_outsider_403_everywhere(self, persona, run, as_persona):
        expected = 401 if persona == "anonymous" else 403
        client = as_persona(persona)
        for url in (
            f"{RUNS}{run.pk}/report/",
            f"/api/v1/compare/?a={run.pk}&b={run.pk}",
            f"/api/v1/tasks/{uuid.uuid4()}/",
        ):
            assert client.get(url).status_code == expected, url
        assert post(client, f"{RUNS}{run.pk}/evaluate/").status_code == expected

    @pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
    def test_every_role_reads_reports(self, persona, run, as_persona):
        client = as_persona(persona)
        assert client.get(f"{RUNS}{run.pk}/report/").status_code == 200
        assert client.get(f"/api/v1/compare/?a={run.pk}&b={run.pk}").status_code == 200

    @pytest.mark.parametrize("persona", ["engineer", "admin_user"])
    def test_engineer_and_admin_queue_scoring(self, persona, run, as_persona):
        response = post(as_persona(persona), f"{RUNS}{run.pk}/evaluate/")
        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "queued" and body["url"].endswith(f"/tasks/{body['task_id']}/")
        assert [e["name"] for e in body["evaluators"]] == ["label_match"]  # the default


@pytest.mark.django_db
class TestValidation:
    def test_bad_evaluators_name_their_index(self, run, as_persona):
        client = as_persona("engineer")
        response = post(
            client,
            f"{RUNS}{run.pk}/evaluate/",
            {"evaluators": [{"name": "label_match"}, {"name": "no_such_thing"}]},
        )
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["evaluators.1"]
        assert "no_such_thing" in response.json()["errors"]["evaluators.1"][0]
        response = post(
            client,
            f"{RUNS}{run.pk}/evaluate/",
            {"evaluators": [{"name": "iou", "params": {"iou_threshold": 7}}]},
        )
        assert response.status_code == 400 and "evaluators.0" in response.json()["errors"]
        # Valid by the schema item by item (it cannot say "each name once"): a 409.
        twice = {"evaluators": [{"name": "label_match"}, "label_match"]}
        response = post(client, f"{RUNS}{run.pk}/evaluate/", twice)
        assert response.status_code == 409 and "named twice" in response.json()["detail"]
        response = post(client, f"{RUNS}{run.pk}/evaluate/", {"evaluators": "label_match"})
        assert response.status_code == 400

    def test_the_schema_states_each_evaluators_params(self, run, as_persona):
        """The CLI's find: params were any JSON, so generated ones were refused. Each
        evaluator's {name, params} is now described from its Param specs: what the schema
        refuses the API refuses, and an evaluator's own example params pass both."""
        validator = evaluate_item_validator()
        client = as_persona("engineer")
        for name, evaluator in installed_evaluators().items():
            if evaluator.judged:
                continue  # its example's judge endpoint is not a server here
            item = {"name": name, "params": evaluator.example.params}
            assert validator.is_valid(item), name
            response = post(client, f"{RUNS}{run.pk}/evaluate/", {"evaluators": [item]})
            assert response.status_code == 202, (name, response.json())
        refused = [
            {"name": "contains", "params": {"substrings": []}},
            {"name": "contains", "params": {"substrings": ["a", ""]}},
            {"name": "contains"},  # substrings is required
            {"name": "regex", "params": {"pattern": "a\u0000"}},
            {"name": "label_match", "params": {"ignore_case": None}},  # has a default: not null
            {"name": "ndcg_at_k", "params": {"k": 0}},
            {"name": "llm_judge", "params": {"model": "m"}},  # no connection, no endpoint
            {"name": "llm_judge", "params": {"connection": "c", "endpoint": "http://h/v1"}},
            {"name": "llm_judge", "params": {"endpoint": "ftp://h", "model": "m"}},
            {"name": "llm_judge", "params": {"connection": "c", "scale": "1-7"}},
            {"name": "llm_judge", "params": {"connection": "c", "params": {"model": "x"}}},
            {"name": "llm_judge", "params": {"connection": "c", "rubric": "{{ unclosed"}},
            {"name": "llm_judge", "params": {"connection": "c", "rate_limit": "0/minute"}},
            {"name": "assertions", "params": {"judge": {"connection": "c", "scale": "1-5"}}},
            "contains",  # a bare name needs no parameter
        ]
        for item in refused:
            assert not validator.is_valid(item), item
            response = post(client, f"{RUNS}{run.pk}/evaluate/", {"evaluators": [item]})
            assert response.status_code == 400, (item, response.json())
        # Valid, but there is no such connection: the data's refusal, a 409.
        judge = {"name": "llm_judge", "params": {"connection": "nowhere", "rubric": "Is it {ok}?"}}
        assert validator.is_valid(judge)
        response = post(client, f"{RUNS}{run.pk}/evaluate/", {"evaluators": [judge]})
        assert response.status_code == 409
        assert "no saved connection" in response.json()["errors"]["evaluators.0"][0]

    def test_missing_runs_and_tasks_are_404(self, db, as_persona):
        client = as_persona("engineer")
        assert post(client, f"{RUNS}999999/evaluate/").status_code == 404
        assert client.get(f"{RUNS}999999/report/").status_code == 404
        assert client.get(f"/api/v1/tasks/{uuid.uuid4()}/").status_code == 404
        assert client.get("/api/v1/tasks/not-a-uuid/").status_code == 404
        assert client.get("/api/v1/compare/?a=999999&b=999998").status_code == 404

    def test_compare_needs_both_runs(self, run, as_persona):
        response = as_persona("viewer").get(f"/api/v1/compare/?a={run.pk}&b=x")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"b"}
        response = as_persona("viewer").get("/api/v1/compare/")
        assert set(response.json()["errors"]) == {"a", "b"}

    def test_run_without_endpoint_cannot_execute(self, run, as_persona):
        response = post(as_persona("engineer"), f"{RUNS}{run.pk}/execute/")
        assert response.status_code == 409  # the run's state, not a malformed request
        assert "no endpoint" in response.json()["errors"]["model_endpoint"][0]
        response = post(as_persona("engineer"), f"{RUNS}{run.pk}/execute/", {"concurrency": 0})
        assert response.status_code == 400 and "concurrency" in response.json()["errors"]


def test_score_then_report_and_compare_end_to_end(make_user, api_client, run_worker):
    engineer = make_user("engineer")
    client = api_client(engineer)
    baseline = make_run(["positive", "positive", "positive", "negative"], version="1")
    candidate = make_run(["positive", "negative", "negative", "negative"], version="2")
    tasks = []
    for run in (baseline, candidate):
        response = post(client, f"{RUNS}{run.pk}/evaluate/", {"evaluators": ["label_match"]})
        assert response.status_code == 202
        tasks.append(response.json()["task_id"])
        queued = client.get(f"/api/v1/tasks/{tasks[-1]}/").json()
        assert queued["status"] == "queued" and queued["kind"] == "evaluation"

    run_worker(batch=True)

    state = client.get(f"/api/v1/tasks/{tasks[0]}/").json()
    assert state["status"] == "completed" and state["run"] == baseline.pk
    assert state["progress"] == {"done": 4, "total": 4}
    assert state["result"]["evaluations_written"] == 4 and state["error"] is None
    assert Evaluation.objects.count() == 8

    report = client.get(f"{RUNS}{baseline.pk}/report/").json()
    label_match = report["evaluators"]["label_match"]
    assert (label_match["count"], label_match["passed"], label_match["pass_rate"]) == (4, 3, 0.75)
    assert report["run"]["id"] == baseline.pk and report["classification"] is not None

    compare = client.get(f"/api/v1/compare/?a={baseline.pk}&b={candidate.pk}&case_limit=1")
    assert compare.status_code == 200
    body = compare.json()
    assert body["a"]["id"] == baseline.pk and body["b"]["id"] == candidate.pk
    assert len(body["cases"]) == 1  # capped
    # Different cases in each run: nothing is paired, everything is only in one of them.
    assert body["evaluators"]["label_match"]["only_in_a"] == 4


def test_execute_through_the_worker(make_user, api_client, run_worker):
    client = api_client(make_user("engineer"))
    cases = [
        baker.make(
            TestCase,
            input_data={"text": "I love it"},
            input_type="text",
            output_type="classification",
            ground_truth={"label": "positive"},
            model_type="nlp",
        )
        for _ in range(3)
    ]
    response = post(
        client,
        RUNS,
        {
            "model_name": "demo",
            "model_version": "1",
            "model_type": "nlp",
            "model_endpoint": "python:runs.demo_models:sentiment_classifier",
        },
    )
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    queued = post(client, f"{RUNS}{run_id}/execute/", {"concurrency": 2, "retries": 0})
    assert queued.status_code == 202, queued.json()
    run_worker(batch=True)
    state = client.get(f"/api/v1/tasks/{queued.json()['task_id']}/").json()
    assert state["kind"] == "execution" and state["status"] == "completed", state
    assert state["progress"] == {"done": 3, "total": 3}
    assert Response.objects.filter(run_id=run_id).count() == len(cases)
    assert client.get(f"{RUNS}{run_id}/").json()["status"] == "completed"


@pytest.mark.django_db
def test_an_unknown_key_in_the_body_is_refused(run, as_persona):
    """The CLI's find: {"evaluators": [], "errors": {}} was queued, the key ignored."""
    response = post(as_persona("engineer"), f"{RUNS}{run.pk}/evaluate/", {"errors": {}})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["errors"]
    document = openapi_document()
    assert document["components"]["schemas"]["EvaluateRequest"]["additionalProperties"] is False
