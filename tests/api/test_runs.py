"""/api/v1/runs/ and runs/<id>/responses/: per persona, registration, cancel, bulk and NDJSON."""

import json

import pytest
from model_bakery import baker

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response, RunStatus
from runs.selection import register_run
from tests.api.test_schema import openapi_document
from tests.baker_recipes import make_cases

URL = "/api/v1/runs/"
RUN = {"model_name": "sentiment-bert", "model_version": "2.1", "model_type": "nlp"}


def post(client, url: str, data, content_type: str = "application/json"):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type=content_type)


@pytest.fixture
def cases(db) -> list[TestCase]:
    return make_cases()


@pytest.fixture
def run(cases, engineer) -> ModelRun:
    return register_run(**RUN, created_by=engineer)


def ndjson(lines: list) -> str:
    return "\n".join(json.dumps(line) for line in lines) + "\n"


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
    def test_every_role_reads(self, persona, run, as_persona):
        client = as_persona(persona)
        assert client.get(URL).json()["results"][0]["id"] == run.pk
        assert client.get(f"{URL}{run.pk}/").status_code == 200
        assert client.get(f"{URL}{run.pk}/responses/").status_code == 200

    @pytest.mark.parametrize("persona", ["anonymous", "outsider"])
    def test_anonymous_401_and_outsider_403(self, persona, run, as_persona):
        expected = 401 if persona == "anonymous" else 403
        client = as_persona(persona)
        assert client.get(URL).status_code == expected
        assert client.get(f"{URL}{run.pk}/responses/").status_code == expected
        assert post(client, URL, RUN).status_code == expected

    @pytest.mark.parametrize("persona", ["viewer", "curator"])
    def test_viewer_and_curator_cannot_write_runs(self, persona, run, cases, as_persona):
        client = as_persona(persona)
        assert post(client, URL, RUN).status_code == 403
        assert (
            client.patch(f"{URL}{run.pk}/", "{}", content_type="application/json").status_code
            == 403
        )
        assert post(client, f"{URL}{run.pk}/cancel/", {}).status_code == 403
        line = [{"test_case_id": cases[0].pk, "output_data": {"label": "a"}}]
        assert post(client, f"{URL}{run.pk}/responses/", line).status_code == 403
        assert client.delete(f"{URL}{run.pk}/").status_code == 403
        assert ModelRun.objects.count() == 1 and not Response.objects.exists()

    @pytest.mark.parametrize("persona", ["engineer", "admin_user"])
    def test_engineer_and_admin_write_runs(self, persona, cases, as_persona):
        client = as_persona(persona)
        response = post(client, URL, RUN)
        assert response.status_code == 201, response.json()
        url = f"{URL}{response.json()['id']}/"
        line = [{"test_case_id": cases[0].pk, "output_data": {"label": "a"}}]
        assert post(client, url + "responses/", line).status_code == 200
        assert post(client, url + "cancel/", {}).status_code == 200
        assert client.delete(url).status_code == 204
        assert not ModelRun.objects.exists() and not Response.objects.exists()


@pytest.mark.django_db
class TestRuns:
    def test_registration_fixes_the_golden_selection(self, engineer, cases, as_persona):
        make_cases(2, origin="ai-generated", is_verified=False)
        make_cases(2, model_type="computer_vision")
        response = post(as_persona("engineer"), URL, {**RUN, "config": {"temperature": 0}})
        assert response.status_code == 201
        body = response.json()
        assert body["total_cases"] == 3 and body["status"] == "pending"
        assert body["selection"] == {"model_type": "nlp", "scope": "golden"}
        assert body["config"]["temperature"] == 0 and body["created_by"] == "engineer"
        assert len(body["selection_fingerprint"]) == 32
        assert ModelRun.objects.get().created_by == engineer

    def test_selection_filters_and_their_errors(self, as_persona):
        make_cases(2, category="sentiment")
        make_cases(3, category="ner")
        client = as_persona("engineer")
        response = post(client, URL, {**RUN, "selection": {"category": "ner"}})
        assert response.status_code == 201 and response.json()["total_cases"] == 3
        response = post(client, URL, {**RUN, "selection": {"difficulty": "impossible"}})
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["selection.difficulty"]
        # Well-formed, but no case matches it today: a conflict with the data, not bad input.
        response = post(client, URL, {**RUN, "selection": {"category": "nothing-like-it"}})
        assert response.status_code == 409
        assert response.json()["errors"] == {"selection": ["No test case matches this selection."]}
        assert ModelRun.objects.count() == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({**RUN, "model_name": ""}, "model_name"),
            ({"model_name": "m", "model_version": "1"}, "model_type"),
            ({**RUN, "model_endpoint": "ftp://nope"}, "model_endpoint"),
            ({**RUN, "config": [1, 2]}, "config"),
            ({**RUN, "selection": "golden"}, "selection"),
            ({**RUN, "model_type": 0}, "model_type"),  # a string, as the schema says
            ({**RUN, "model_version": 2.5}, "model_version"),
            ({**RUN, "model_endpoint": 8}, "model_endpoint"),
        ],
    )
    def test_bad_runs_are_400_naming_the_field(self, cases, as_persona, body, field):
        response = post(as_persona("engineer"), URL, body)
        assert response.status_code == 400
        assert field in response.json()["errors"], response.json()
        assert not ModelRun.objects.exists()

    def test_patch_keeps_the_selection(self, run, as_persona):
        client = as_persona("engineer")
        response = client.patch(
            f"{URL}{run.pk}/",
            json.dumps({"model_version": "2.2", "config": {"temperature": 1}}),
            content_type="application/json",
        )
        assert response.status_code == 200
        run.refresh_from_db()
        assert run.model_version == "2.2" and run.config["temperature"] == 1
        assert run.selection == {"model_type": "nlp", "scope": "golden"}
        response = client.patch(
            f"{URL}{run.pk}/", json.dumps({"selection": {}}), content_type="application/json"
        )
        # Fixed at registration: the run's state refuses it (409), the request is well-formed.
        assert response.status_code == 409 and "selection" in response.json()["errors"]
        response = client.patch(
            f"{URL}{run.pk}/", json.dumps({"status": "completed"}), content_type="application/json"
        )
        run.refresh_from_db()
        assert run.status == "pending"  # status is read-only: cancel or execution change it

    def test_cancel_an_active_run_then_409(self, run, as_persona):
        client = as_persona("engineer")
        response = post(client, f"{URL}{run.pk}/cancel/", {})
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        again = post(client, f"{URL}{run.pk}/cancel/", {})
        assert again.status_code == 409
        assert again.json() == {
            "detail": f"Run {run.pk} is already cancelled: only active runs can be stopped.",
            "errors": {},
        }

    def test_filters_and_missing_run(self, run, cases, engineer, as_persona):
        other = register_run(**{**RUN, "model_version": "3"}, created_by=engineer)
        client = as_persona("viewer")
        rows = client.get(URL + "?model_version=3").json()["results"]
        assert [row["id"] for row in rows] == [other.pk]
        assert client.get(URL + "?status=nonsense").status_code == 400
        assert client.get(URL + "?ordering=nonsense").status_code == 400
        rows = client.get(URL + "?ordering=version&page_size=1").json()
        assert rows["results"][0]["id"] == run.pk  # "2.1" < "3"
        assert client.get(rows["next"]).json()["results"][0]["id"] == other.pk
        assert client.get(f"{URL}999999/").status_code == 404
        assert client.get(f"{URL}999999/responses/").status_code == 404

    def test_list_costs_a_fixed_number_of_queries(
        self, cases, make_user, as_persona, django_assert_max_num_queries
    ):
        for i in range(30):
            register_run(**{**RUN, "model_version": str(i)}, created_by=make_user("engineer"))
        client = as_persona("viewer")
        client.get(URL)
        with django_assert_max_num_queries(4):
            assert len(client.get(URL + "?page_size=30").json()["results"]) == 30


@pytest.mark.django_db
class TestResponses:
    def test_json_list_is_upserted(self, run, cases, as_persona):
        client = as_persona("engineer")
        url = f"{URL}{run.pk}/responses/"
        lines = [
            {"test_case_id": cases[0].pk, "output_data": {"label": "a"}, "latency_ms": 12},
            {"test_case_id": cases[1].pk, "output_data": None, "error_message": "timeout"},
        ]
        response = post(client, url, lines)
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["imported"], body["created"], body["replaced"]) == (2, 2, 0)
        assert body["run"]["completed_cases"] == 1 and body["run"]["failed_cases"] == 1
        again = post(client, url, [{"test_case_id": cases[0].pk, "output_data": {"label": "b"}}])
        assert again.json()["replaced"] == 1
        assert Response.objects.get(test_case=cases[0]).output_data == {"label": "b"}
        assert Response.objects.count() == 2

    def test_ndjson_stream_goes_through_the_same_ingestion(self, run, cases, as_persona):
        client = as_persona("engineer")
        lines = [{"test_case_id": case.pk, "output_data": {"label": "a"}} for case in cases]
        response = post(
            client, f"{URL}{run.pk}/responses/", "\ufeff" + ndjson(lines), "application/x-ndjson"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["imported"] == 3
        assert response.json()["run"]["status"] == "completed"  # every case answered
        rows = client.get(f"{URL}{run.pk}/responses/").json()["results"]
        assert [row["test_case_id"] for row in rows] == [case.pk for case in cases]
        assert rows[0]["output_data"] == {"label": "a"}

    def test_ndjson_errors_name_the_line_and_nothing_is_stored(self, run, cases, as_persona):
        outsider_case = make_cases(1, model_type="computer_vision")[0]
        body = (
            json.dumps({"test_case_id": cases[0].pk, "output_data": {}})
            + "\n\n"
            + json.dumps({"test_case_id": outsider_case.pk, "output_data": {}})
            + "\n{broken\n"
            + json.dumps({"test_case_id": cases[0].pk, "output_data": {}, "latency_ms": -1})
        )
        response = post(
            as_persona("engineer"), f"{URL}{run.pk}/responses/", body, "application/x-ndjson"
        )
        assert response.status_code == 400
        errors = response.json()["errors"]
        # one round: the case outside the run (a database check) with the lines' own problems
        assert set(errors) == {"3.test_case_id", "4", "5.latency_ms"}, errors
        assert not Response.objects.exists()

    def test_decimal_latency_external_ids_and_the_full_error_list(self, run, cases, as_persona):
        client = as_persona("engineer")
        url = f"{URL}{run.pk}/responses/"
        cases[1].external_id = "row-2"
        cases[1].save()
        lines = [
            {"test_case_id": cases[0].pk, "output_data": {}, "latency_ms": 151.4},
            {"external_id": "row-2", "output_data": {}, "latency_ms": 0.125},
        ]
        response = post(client, url, lines)
        assert response.status_code == 200, response.json()
        rows = client.get(url).json()["results"]
        assert [(row["test_case_id"], row["latency_ms"]) for row in rows] == [
            (cases[0].pk, 151.4),
            (cases[1].pk, 0.125),
        ]
        bad = [
            {"test_case_id": cases[0].pk, "output_data": {}, "latency_ms": -i} for i in range(1, 41)
        ]
        response = post(client, url, bad)
        errors = response.json()["errors"]
        # every error is listed, not the first 20 (the old cap)
        assert len([key for key in errors if key.endswith("latency_ms")]) == 40, errors

    def test_json_list_errors_name_index_and_field(self, run, cases, as_persona):
        lines = [
            {"test_case_id": cases[0].pk, "output_data": {}},
            {"test_case_id": cases[0].pk, "output_data": {}},
            {"output_data": {}},
            "not an object",
        ]
        response = post(as_persona("engineer"), f"{URL}{run.pk}/responses/", lines)
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"1.test_case_id", "2.test_case_id", "3"}
        assert not Response.objects.exists()

    def test_case_outside_the_selection_is_refused(self, run, as_persona):
        stranger = make_cases(1, model_type="tabular")[0]
        response = post(
            as_persona("engineer"),
            f"{URL}{run.pk}/responses/",
            [{"test_case_id": stranger.pk, "output_data": {}}],
        )
        # Well-formed (the schema cannot know the run's cases): a 409 naming the line.
        assert response.status_code == 409
        assert "not in this run" in response.json()["errors"]["0.test_case_id"][0]

    def test_data_refusals_are_409_shape_refusals_400(self, run, cases, as_persona):
        client, url = as_persona("engineer"), f"{URL}{run.pk}/responses/"
        twice = [{"test_case_id": cases[0].pk, "output_data": 1}] * 2
        response = post(client, url, twice)
        assert response.status_code == 409
        assert set(response.json()["errors"]) == {"1.test_case_id"}
        unknown = post(client, url, [{"external_id": "nope", "output_data": 1}])
        assert unknown.status_code == 409 and "0.external_id" in unknown.json()["errors"]
        # A malformed line with them: the 400 names every problem at once.
        mixed = post(client, url, [*twice, {"test_case_id": cases[1].pk, "output_data": 1, "x": 1}])
        assert mixed.status_code == 400
        assert set(mixed.json()["errors"]) == {"1.test_case_id", "2.x"}
        assert not Response.objects.exists()

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ("[]", "application/json"),
            ("{}", "application/json"),
            ("", "application/x-ndjson"),
            ("\n\n", "application/x-ndjson"),
            ("\xff\xfe", "application/x-ndjson"),
        ],
    )
    def test_empty_or_wrong_bodies_are_400(self, run, as_persona, body, content_type):
        response = post(as_persona("engineer"), f"{URL}{run.pk}/responses/", body, content_type)
        assert response.status_code == 400, response.content
        assert set(response.json()) == {"detail", "errors"}

    def test_the_body_is_required_as_the_schema_says(self, run, as_persona):
        """The CLI's find: a POST without a body was schema-valid (the body was optional)."""
        response = as_persona("engineer").post(f"{URL}{run.pk}/responses/", "", "application/json")
        assert response.status_code == 400
        operation = openapi_document()["paths"]["/api/v1/runs/{run_id}/responses/"]["post"]
        assert operation["requestBody"]["required"] is True

    def test_unsupported_content_type_is_415(self, run, as_persona):
        response = post(as_persona("engineer"), f"{URL}{run.pk}/responses/", "x", "text/csv")
        assert response.status_code == 415

    def test_replacing_a_response_drops_its_old_verdicts(self, run, cases, as_persona):
        client = as_persona("engineer")
        url = f"{URL}{run.pk}/responses/"
        post(client, url, [{"test_case_id": cases[0].pk, "output_data": {"label": "a"}}])
        stored = Response.objects.get()
        baker.make(Evaluation, response=stored, evaluator_type="label_match", score=1, passed=True)
        post(client, url, [{"test_case_id": cases[0].pk, "output_data": {"label": "b"}}])
        assert not Evaluation.objects.exists()

    def test_response_pages_cost_a_fixed_number_of_queries(
        self, run, as_persona, django_assert_max_num_queries
    ):
        many = make_cases(150)
        run = register_run(**{**RUN, "model_version": "big"})
        lines = [{"test_case_id": case.pk, "output_data": {"label": "a"}} for case in many]
        client = as_persona("engineer")
        assert post(client, f"{URL}{run.pk}/responses/", lines).status_code == 200
        seen, url = [], f"{URL}{run.pk}/responses/?page_size=100"
        while url:
            with django_assert_max_num_queries(5):
                body = client.get(url).json()
            seen += [row["test_case_id"] for row in body["results"]]
            url = body["next"]
        assert sorted(seen) == sorted(case.pk for case in many)
        assert run.status == RunStatus.PENDING


@pytest.mark.django_db
def test_bodies_over_the_limits_are_413(run, cases, as_persona, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    settings.MLEVAL_MAX_UPLOAD_BYTES = 300
    client = as_persona("engineer")
    lines = [{"test_case_id": cases[0].pk, "output_data": {"text": "x" * 150}}]
    response = post(client, f"{URL}{run.pk}/responses/", lines)
    assert response.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    assert (
        post(client, f"{URL}{run.pk}/responses/", ndjson(lines), "application/x-ndjson").status_code
        == 200
    )
    big = ndjson(lines * 2)
    response = post(client, f"{URL}{run.pk}/responses/", big, "application/x-ndjson")
    assert response.status_code == 413 and "MLEVAL_MAX_UPLOAD_BYTES" in response.json()["detail"]
