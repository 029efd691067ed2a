"""Every action the audit trail promises lands in it with its actor, from each way of doing it.

Pages, the API (Bearer token), the admin and the commands all go through the same domain code
(curation.apply, importing, register_run, ingest_responses, enqueue_execution,
enqueue_evaluation) or record at their own entry point; these tests drive the real entry points.
"""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from cases.models import TestCase
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests.baker_recipes import make_case

SENTIMENT = "python:runs.demo_models:sentiment_classifier"
REVIEW_FILTERS = "origin=ai-generated&is_verified=false"


def case_json(**overrides) -> dict:
    return {
        "input_data": {"text": "fine"},
        "input_type": "text",
        "ground_truth": {"label": "positive"},
        "output_type": "classification",
        "model_type": "nlp",
        "category": "sentiment",
        **overrides,
    }


def case_form(**overrides) -> dict:
    data = {
        key: json.dumps(value) if isinstance(value, dict) else value
        for key, value in case_json().items()
    }
    return {"tags": "en", "difficulty": "easy", "origin": "human", "metadata": "{}", **data,
            **overrides}  # fmt: skip


def api(user) -> Client:
    """A client speaking to the API with a fresh Bearer token of `user`."""
    _, raw = ApiToken.objects.issue(user, "audit test")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def only_event(action: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(action=action)
    return event


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def golden(db) -> list[TestCase]:
    return [make_case(input_data={"text": f"review {i}"}) for i in range(4)]


@pytest.fixture
def run(golden, engineer) -> ModelRun:
    return register_run(
        model_name="lexicon-sent",
        model_version="1.0",
        model_type="nlp",
        model_endpoint=SENTIMENT,
        created_by=engineer,
    )


# Cases: one at a time ------------------------------------------------------------------------


@pytest.mark.django_db
class TestCaseActions:
    def test_create_update_delete_on_the_pages(self, curator, login):
        client = login(curator)
        assert client.post("/cases/new/", case_form()).status_code == 302
        case = TestCase.objects.get()
        created = only_event("case.create")
        assert (created.actor, created.target_type, created.target_id) == (
            curator,
            "testcase",
            str(case.pk),
        )
        client.post(f"/cases/{case.pk}/edit/", case_form(category="irony"))
        updated = only_event("case.update")
        assert updated.actor == curator and "category" in updated.detail["fields"]
        client.post(f"/cases/{case.pk}/delete/")
        deleted = only_event("case.delete")
        assert deleted.actor == curator and deleted.target_id == str(case.pk)

    def test_edit_then_approve_records_the_approval(self, curator, login):
        case = make_case(origin="ai-generated", is_verified=False)
        login(curator).post(f"/cases/{case.pk}/edit/", case_form(origin="", approve="1"))
        approved = only_event("cases.approve")
        assert approved.actor == curator and approved.target_id == str(case.pk)

    def test_create_update_delete_through_the_api(self, curator):
        client = api(curator)
        response = client.post("/api/v1/cases/", case_json(), content_type="application/json")
        assert response.status_code == 201, response.content
        pk = response.json()["id"]
        assert only_event("case.create").actor == curator
        client.patch(f"/api/v1/cases/{pk}/", {"category": "irony"}, content_type="application/json")
        updated = only_event("case.update")
        assert updated.actor == curator and updated.detail["fields"] == ["category"]
        assert client.delete(f"/api/v1/cases/{pk}/").status_code == 204
        assert only_event("case.delete").target_id == str(pk)

    def test_a_list_posted_to_the_api_is_one_event(self, curator):
        response = api(curator).post(
            "/api/v1/cases/", [case_json(), case_json()], content_type="application/json"
        )
        assert response.status_code == 201
        event = only_event("cases.create")
        assert event.actor == curator and event.count == 2 and len(event.detail["ids"]) == 2

    def test_a_refused_write_leaves_no_event(self, curator):
        response = api(curator).post(
            "/api/v1/cases/", [case_json(), {"input_data": 1}], content_type="application/json"
        )
        assert response.status_code == 400
        assert not AuditEvent.objects.filter(action__startswith="case").exists()

    def test_admin_add_change_delete_and_actions(self, admin_user, login):
        client = login(admin_user)
        case = make_case()
        response = client.post(
            f"/admin/cases/testcase/{case.pk}/delete/", {"post": "yes"}, follow=True
        )
        assert response.status_code == 200
        event = only_event("case.delete")
        assert event.actor == admin_user and event.detail["via"] == "admin"
        other = make_case(is_verified=False)
        client.post(
            "/admin/cases/testcase/",
            {"action": "mark_verified", "_selected_action": [other.pk]},
        )
        assert only_event("cases.verify").count == 1
        doomed = [make_case().pk, make_case().pk]
        client.post(
            "/admin/cases/testcase/",
            {"action": "delete_selected", "_selected_action": doomed, "post": "yes"},
        )
        bulk = only_event("cases.delete")
        assert bulk.count == 2 and sorted(bulk.detail["ids"]) == doomed
        run = ModelRun.objects.create(model_name="m", model_version="1", model_type="nlp")
        client.post(f"/admin/runs/modelrun/{run.pk}/delete/", {"post": "yes"})
        assert only_event("run.delete").target_id == str(run.pk)


# Cases: bulk, review, import, export ---------------------------------------------------------


@pytest.mark.django_db
class TestBulkActions:
    @pytest.mark.parametrize(
        ("action", "value", "audit_action"),
        [
            ("verify", "", "cases.verify"),
            ("unverify", "", "cases.unverify"),
            ("add_tag", "checked", "cases.tag"),
            ("remove_tag", "en", "cases.untag"),
            ("set_category", "irony", "cases.set_category"),
            ("set_difficulty", "hard", "cases.set_difficulty"),
            ("delete", "", "cases.delete"),
        ],
    )
    def test_each_bulk_action(self, action, value, audit_action, curator, make_user, login):
        user = make_user("admin", "boss") if action == "delete" else curator
        cases = [make_case(tags=["en"], is_verified=action != "verify") for _ in range(3)]
        response = login(user).post(
            "/cases/bulk/",
            {
                "action": action,
                "value": value,
                "target": "selected",
                "ids": [c.pk for c in cases[:2]],
                "filters": "scope=all",
                "confirmed": "1",
            },
        )
        assert response.status_code == 302
        event = only_event(audit_action)
        assert event.actor == user and event.count == 2 and event.target_type == "testcase"
        assert event.detail["selection"]["ids"] == [cases[0].pk, cases[1].pk]

    def test_the_confirmation_page_records_nothing(self, curator, login):
        case = make_case()
        login(curator).post(
            "/cases/bulk/",
            {"action": "unverify", "target": "selected", "ids": [case.pk], "filters": ""},
        )
        assert not AuditEvent.objects.exists()

    def test_review_queue_approve_and_reject(self, curator, make_user, login):
        waiting = [make_case(origin="ai-generated", is_verified=False) for _ in range(2)]
        common = {"target": "selected", "filters": REVIEW_FILTERS, "confirmed": "1"}
        login(curator).post("/cases/bulk/", {**common, "action": "verify", "ids": waiting[0].pk})
        approved = only_event("cases.approve")
        assert approved.actor == curator and approved.count == 1
        admin = make_user("admin", "boss")
        login(admin).post("/cases/bulk/", {**common, "action": "delete", "ids": waiting[1].pk})
        assert only_event("cases.reject").actor == admin


@pytest.mark.django_db
class TestImportExport:
    def test_import_command_records_the_user_and_count(self, curator, tmp_path):
        path = tmp_path / "cases.jsonl"
        path.write_text("\n".join(json.dumps(case_json()) for _ in range(3)))
        call_command("import_cases", str(path), "--user", "curator", stdout=io.StringIO())
        event = only_event("cases.import")
        assert event.actor == curator and event.count == 3 and event.detail["format"] == "jsonl"

    def test_a_failed_or_dry_import_records_nothing(self, tmp_path):
        path = tmp_path / "cases.jsonl"
        path.write_text(json.dumps(case_json()) + "\n{not json}\n")
        with pytest.raises(Exception):  # noqa: B017 - CommandError: one line is bad
            call_command("import_cases", str(path), stdout=io.StringIO(), stderr=io.StringIO())
        path.write_text(json.dumps(case_json()))
        call_command("import_cases", str(path), "--dry-run", stdout=io.StringIO())
        assert not AuditEvent.objects.exists()

    def test_export_page_and_command(self, viewer, login, golden, tmp_path):
        response = login(viewer).get("/cases/export/", {"format": "jsonl", "category": "sentiment"})
        b"".join(response.streaming_content)
        event = only_event("cases.export")
        assert event.actor == viewer and event.detail["selection"] == {"category": "sentiment"}
        assert event.count == 4
        call_command("export_cases", str(tmp_path / "out.csv"), stdout=io.StringIO())
        by_command = events("cases.export")[-1]
        assert by_command.actor is None and by_command.count == 4
        assert by_command.detail["via"] == "command"

    @pytest.mark.django_db(transaction=True)  # closing the response closes the connection
    @pytest.mark.parametrize("fmt", ["jsonl", "csv"])
    def test_an_export_that_breaks_off_records_nothing(self, viewer, login, golden, fmt):
        """The audit row is written after the last line: a download that fails midway (the
        connection dropped, a database error) leaves none."""
        response = login(viewer).get("/cases/export/", {"format": fmt})
        next(iter(response.streaming_content))
        response.close()
        assert not events("cases.export")


# Runs ----------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestRunActions:
    def test_register_on_the_page_through_the_api_and_the_command(self, engineer, golden, login):
        form = {"model_name": "m", "model_version": "1", "model_type": "nlp", "config": "{}"}
        assert login(engineer).post("/runs/new/", form).status_code == 302
        page = only_event("run.create")
        assert page.actor == engineer and page.detail["total_cases"] == 4
        response = api(engineer).post(
            "/api/v1/runs/",
            {"model_name": "m", "model_version": "2", "model_type": "nlp"},
            content_type="application/json",
        )
        assert response.status_code == 201
        call_command(
            "create_run",
            "--model-name=m",
            "--model-version=3",
            "--model-type=nlp",
            stdout=io.StringIO(),
        )
        assert [e.actor for e in events("run.create")] == [engineer, engineer, None]

    def test_execute_cancel_and_delete_on_the_pages(self, run, engineer, login):
        client = login(engineer)
        client.post(f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 0})
        execute = only_event("run.execute")
        assert execute.actor == engineer and execute.detail["concurrency"] == 2
        assert execute.target_id == str(run.pk) and execute.detail["task_id"]
        client.post(f"/runs/{run.pk}/cancel/")
        assert only_event("run.cancel").actor == engineer
        client.post(f"/runs/{run.pk}/delete/")
        assert not ModelRun.objects.filter(pk=run.pk).exists()
        deleted = only_event("run.delete")
        assert deleted.actor == engineer and deleted.target_id == str(run.pk)

    def test_execute_evaluate_cancel_update_delete_through_the_api(self, run, golden, engineer):
        client = api(engineer)
        base = f"/api/v1/runs/{run.pk}/"
        assert client.post(f"{base}execute/", {}, content_type="application/json").status_code in (
            200,
            201,
            202,
        )
        assert only_event("run.execute").actor == engineer
        Response.objects.create(run=run, test_case=golden[0], output_data={})
        response = client.post(f"{base}evaluate/", {}, content_type="application/json")
        assert response.status_code == 202, response.content
        evaluate = only_event("run.evaluate")
        assert evaluate.actor == engineer and evaluate.detail["evaluators"] == ["label_match"]
        assert client.post(f"{base}cancel/").status_code == 200
        assert only_event("run.cancel").actor == engineer
        client.patch(base, {"model_version": "1.1"}, content_type="application/json")
        assert only_event("run.update").detail["fields"] == ["model_version"]
        assert client.delete(base).status_code == 204
        assert only_event("run.delete").actor == engineer

    def test_cancelling_a_finished_run_records_nothing(self, run, engineer, login):
        ModelRun.objects.filter(pk=run.pk).update(status="completed")
        login(engineer).post(f"/runs/{run.pk}/cancel/")
        assert api(engineer).post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 409
        assert not AuditEvent.objects.filter(action="run.cancel").exists()

    def test_commands_execute_and_evaluate(self, run):
        call_command("execute_run", str(run.pk), stdout=io.StringIO(), stderr=io.StringIO())
        execute = only_event("run.execute")
        assert execute.actor is None and execute.detail["via"] == "command"
        assert execute.detail["status"] == "completed"
        call_command("evaluate_run", str(run.pk), stdout=io.StringIO(), stderr=io.StringIO())
        evaluate = only_event("run.evaluate")
        assert evaluate.count == 4 and evaluate.detail["evaluators"] == ["label_match"]

    def test_the_evaluate_button(self, run, golden, engineer, login):
        Response.objects.create(run=run, test_case=golden[0], output_data={})
        login(engineer).post(f"/runs/{run.pk}/evaluate/", {"evaluators": ["label_match"]})
        assert only_event("run.evaluate").actor == engineer


@pytest.mark.django_db
class TestResponseImports:
    def lines(self, run, n: int = 2) -> str:
        cases = sorted(run.run_cases.values_list("test_case_id", flat=True))[:n]
        return "\n".join(
            json.dumps({"test_case_id": pk, "output_data": {"label": "positive"}}) for pk in cases
        )

    def test_api_page_and_command(self, run, engineer, login, tmp_path):
        response = api(engineer).post(
            f"/api/v1/runs/{run.pk}/responses/",
            self.lines(run),
            content_type="application/x-ndjson",
        )
        assert response.status_code == 200, response.content
        event = only_event("responses.import")
        assert event.actor == engineer and event.count == 2 and event.target_id == str(run.pk)
        upload = SimpleUploadedFile("r.jsonl", self.lines(run, 3).encode())
        login(engineer).post(f"/runs/{run.pk}/responses/import/", {"file": upload})
        path = tmp_path / "r.jsonl"
        path.write_text(self.lines(run, 1))
        call_command("import_responses", str(run.pk), str(path), stdout=io.StringIO())
        assert [(e.actor, e.count) for e in events("responses.import")] == [
            (engineer, 2),
            (engineer, 3),
            (None, 1),
        ]

    def test_a_refused_file_records_nothing(self, run, engineer):
        bad = json.dumps({"test_case_id": 10**9, "output_data": {}})
        response = api(engineer).post(
            f"/api/v1/runs/{run.pk}/responses/", bad, content_type="application/x-ndjson"
        )
        assert response.status_code == 409  # a case outside the run: refused by the data
        assert not AuditEvent.objects.filter(action="responses.import").exists()


# Work the task worker does names the user who asked for it -----------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_import_page_task_records_who_uploaded(curator, login, run_worker):
    upload = SimpleUploadedFile("c.jsonl", json.dumps(case_json()).encode())
    response = login(curator).post("/cases/import/", {"file": upload, "import": "1"})
    assert response.status_code == 302
    run_worker(batch=True)
    event = only_event("cases.import")
    assert event.actor == curator and event.count == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_big_response_upload_imported_by_the_worker_names_the_uploader(
    golden, engineer, login, run_worker, settings
):
    run = register_run(model_name="m", model_version="1", model_type="nlp")
    settings.MLEVAL_SYNC_IMPORT_BYTES = 10  # bigger files go to the worker
    upload = SimpleUploadedFile("r.jsonl", TestResponseImports().lines(run).encode())
    login(engineer).post(f"/runs/{run.pk}/responses/import/", {"file": upload})
    run_worker(batch=True)
    event = only_event("responses.import")
    assert event.actor == engineer and event.count == 2
