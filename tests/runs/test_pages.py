"""Run pages per persona: engineers manage runs, viewers read, curators cannot execute."""

import io
import json

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from model_bakery import baker

from evaluations.models import Evaluation
from jobs.models import Job
from runs.execution import execute_run
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.selection import register_run
from runs.tasks import import_responses_task
from tests.baker_recipes import make_case
from tests.runs.conftest import SENTIMENT

READERS = ["viewer", "curator", "engineer", "admin_user"]


def upload(content: str, name: str = "responses.jsonl") -> io.BytesIO:
    file = io.BytesIO(content.encode())
    file.name = name
    return file


def line(case_id, **fields) -> str:
    return json.dumps({"test_case_id": case_id, "output_data": {"label": "positive"}, **fields})


@pytest.fixture
def many_runs(golden):
    return [
        register_run(
            model_name=f"model-{i % 3}",
            model_version=f"{i}.0",
            model_type="nlp",
            model_endpoint=SENTIMENT,
        )
        for i in range(12)
    ]


class TestAccess:
    @pytest.mark.parametrize("persona", READERS)
    def test_readers_see_the_list_and_a_run(self, request, login, run, persona):
        client = login(request.getfixturevalue(persona))
        assert client.get("/runs/").status_code == 200
        page = client.get(f"/runs/{run.pk}/")
        assert page.status_code == 200
        assert b"lexicon-sent" in page.content and b"/runs/%d/report/" % run.pk in page.content
        for part in ("progress", "drift"):
            assert client.get(f"/runs/{run.pk}/{part}/").status_code == 200

    def test_an_outsider_is_refused_and_an_anonymous_user_sent_to_log_in(
        self, login, outsider, run
    ):
        assert login(outsider).get("/runs/").status_code == 403
        assert login(outsider).get(f"/runs/{run.pk}/").status_code == 403
        from django.test import Client

        assert Client().get("/runs/").status_code == 302

    @pytest.mark.parametrize("persona", ["viewer", "curator"])
    def test_only_engineers_change_runs(self, request, login, run, persona):
        client = login(request.getfixturevalue(persona))
        assert client.get("/runs/new/").status_code == 403
        assert client.post(f"/runs/{run.pk}/execute/", {"concurrency": 2}).status_code == 403
        assert client.post(f"/runs/{run.pk}/cancel/").status_code == 403
        assert client.post(f"/runs/{run.pk}/responses/import/").status_code == 403
        assert client.post(f"/runs/{run.pk}/delete/").status_code == 403
        page = client.get(f"/runs/{run.pk}/")
        assert b"Execute" not in page.content and b"Push responses" not in page.content
        run.refresh_from_db()
        assert run.status == "pending" and not Job.objects.exists()

    def test_engineers_see_the_actions(self, login, engineer, run):
        page = login(engineer).get(f"/runs/{run.pk}/")
        for text in (b"Execute", b"Cancel the run", b"Push responses", b"Delete"):
            assert text in page.content


class TestList:
    def test_filters_and_sorting(self, login, viewer, many_runs):
        client = login(viewer)
        page = client.get("/runs/", {"model_name": "MODEL-1"})
        assert page.context["paginator"].count == 4
        ModelRun.objects.filter(pk=many_runs[0].pk).update(status="completed")
        assert client.get("/runs/", {"status": "completed"}).context["paginator"].count == 1
        assert client.get("/runs/", {"model_version": "3.0"}).context["paginator"].count == 1
        ordered = client.get("/runs/", {"ordering": "version"}).context["object_list"]
        versions = [run.model_version for run in ordered]
        assert versions == sorted(versions)

    def test_htmx_gets_the_table_only(self, login, viewer, many_runs):
        page = login(viewer).get("/runs/", {"status": "pending"}, HTTP_HX_REQUEST="true")
        assert b"<html" not in page.content and b"#%d" % many_runs[0].pk in page.content

    def test_query_count_does_not_grow_with_runs(
        self, login, viewer, many_runs, django_assert_max_num_queries
    ):
        client = login(viewer)
        with django_assert_max_num_queries(8):
            assert client.get("/runs/").status_code == 200


class TestCreate:
    def test_the_form_registers_a_run_over_the_golden_set(self, login, engineer, golden):
        client = login(engineer)
        assert client.get("/runs/new/?model_type=nlp&category=sentiment").status_code == 200
        page = client.post(
            "/runs/new/",
            {
                "model_name": "bert",
                "model_version": "2",
                "model_type": "nlp",
                "model_endpoint": SENTIMENT,
                "config": '{"temperature": 0}',
                "scope": "golden",
            },
        )
        run = ModelRun.objects.get()
        assert page.status_code == 302 and page["Location"] == f"/runs/{run.pk}/"
        assert run.total_cases == 8 and run.created_by == engineer
        assert run.config == {
            "temperature": 0,
            "selection": {"model_type": "nlp", "scope": "golden"},
        }

    def test_filters_narrow_the_selection(self, login, engineer, golden):
        golden[0].tags = ["sarcasm"]
        golden[0].save()
        login(engineer).post(
            "/runs/new/",
            {"model_name": "m", "model_version": "1", "model_type": "nlp", "tags": "sarcasm"},
        )
        run = ModelRun.objects.get()
        assert run.total_cases == 1 and run.selection["tags"] == ["sarcasm"]

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"model_type": "tabular"}, b"No test case matches this selection"),
            ({"model_endpoint": "ftp://nope"}, b"Write an http(s):// URL"),
            ({"config": "[1]"}, b"must be a JSON object"),
            ({"config": "{bad"}, b"Enter a valid JSON"),
            ({"difficulty": "extreme"}, b"Select a valid choice"),
        ],
    )
    def test_bad_input_is_shown_and_nothing_registered(
        self, login, engineer, golden, data, message
    ):
        fields = {"model_name": "m", "model_version": "1", "model_type": "nlp", **data}
        page = login(engineer).post("/runs/new/", fields)
        assert page.status_code == 200 and message in page.content
        assert not ModelRun.objects.exists()

    def test_the_selection_count(self, login, engineer, golden):
        client = login(engineer)
        assert client.get("/runs/new/count/", {"model_type": "nlp"}).content == b"8 cases selected."
        widened = client.get("/runs/new/count/", {"model_type": "nlp", "scope": "all"})
        assert widened.content == b"9 cases selected."


class TestDetail:
    def test_progress_drift_and_failures(self, login, viewer, run, golden):
        ingest_responses(run, [line(golden[0].pk, error_message="CUDA out of memory")])
        golden[1].ground_truth = {"label": "negative"}
        golden[1].save()
        client = login(viewer)
        page = client.get(f"/runs/{run.pk}/")
        assert b"CUDA out of memory" in page.content
        assert b"1 / 8" in page.content  # done / total
        drift = client.get(f"/runs/{run.pk}/drift/")
        assert b"1 edited, 0 added, 0 removed" in drift.content

    def test_query_counts_are_bounded(
        self, login, engineer, run, golden, django_assert_max_num_queries
    ):
        ingest_responses(run, [line(c.pk, error_message="boom") for c in golden])
        client = login(engineer)
        client.post(f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 1})
        with django_assert_max_num_queries(12):
            assert client.get(f"/runs/{run.pk}/").status_code == 200
        with django_assert_max_num_queries(6):  # a pending run: is an execution queued?
            assert client.get(f"/runs/{run.pk}/progress/").status_code == 200
        with django_assert_max_num_queries(10):
            assert client.get(f"/runs/{run.pk}/drift/").status_code == 200

    def test_polling_stops_and_reloads_when_the_run_ends(self, login, viewer, run):
        client = login(viewer)
        active = client.get(f"/runs/{run.pk}/progress/?was=active")
        assert b"hx-trigger" in active.content and "HX-Refresh" not in active
        execute_run(run)
        ended = client.get(f"/runs/{run.pk}/progress/?was=active")
        assert b"hx-trigger" not in ended.content and ended["HX-Refresh"] == "true"


class TestActions:
    def test_execute_queues_a_task_and_cancel_stops_it(self, login, engineer, run):
        client = login(engineer)
        page = client.post(
            f"/runs/{run.pk}/execute/", {"concurrency": 3, "timeout": 10, "retries": 1}, follow=True
        )
        assert b"Execution queued" in page.content
        job = run.jobs.get(kind="execution")
        assert job.state == "queued" and job.created_by == engineer
        result = DBTaskResult.objects.get(id=job.task_id)
        assert result.status == "READY"
        assert result.args_kwargs["args"] == [
            run.pk,
            {"concurrency": 3, "timeout": 10.0, "retries": 1, "backoff": 0.5},
        ]
        assert b"queued" in page.content  # the job's state on the page
        client.post(f"/runs/{run.pk}/cancel/")
        run.refresh_from_db()
        assert run.status == "cancelled"

    def test_a_run_without_endpoint_cannot_execute(self, login, engineer, golden):
        run = register_run(model_name="pushed", model_version="1", model_type="nlp")
        page = login(engineer).post(
            f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 0}, follow=True
        )
        assert b"has no endpoint" in page.content and not Job.objects.exists()

    def test_retry_failed_without_endpoint_keeps_the_failures(self, login, engineer, golden):
        run = register_run(model_name="pushed", model_version="1", model_type="nlp")
        ingest_responses(
            run, [{"test_case_id": golden[0].pk, "output_data": {}, "error_message": "timeout"}]
        )
        page = login(engineer).post(
            f"/runs/{run.pk}/execute/",
            {"concurrency": 2, "timeout": 5, "retries": 0, "retry_failed": "on"},
            follow=True,
        )
        assert b"has no endpoint" in page.content and not run.jobs.filter(kind="execution")
        assert Response.objects.filter(run=run).exclude(error_message="").count() == 1

    def test_retry_failed_forgets_and_queues_together(self, login, engineer, run, golden):
        ingest_responses(
            run, [{"test_case_id": golden[0].pk, "output_data": {}, "error_message": "timeout"}]
        )
        login(engineer).post(
            f"/runs/{run.pk}/execute/",
            {"concurrency": 2, "timeout": 5, "retries": 0, "retry_failed": "on"},
        )
        assert not Response.objects.filter(run=run).exists()
        assert run.jobs.get(kind="execution").state == "queued"

    def test_bad_execute_options_are_refused(self, login, engineer, run):
        page = login(engineer).post(
            f"/runs/{run.pk}/execute/", {"concurrency": 0, "timeout": 5, "retries": 1}, follow=True
        )
        assert b"concurrency" in page.content and not Job.objects.exists()

    def test_upload_imports_at_once(self, login, engineer, run, golden):
        content = "\n".join(line(c.pk, latency_ms=4) for c in golden[:3])
        page = login(engineer).post(
            f"/runs/{run.pk}/responses/import/", {"file": upload(content)}, follow=True
        )
        assert b"Imported 3 responses (3 new" in page.content
        assert Response.objects.filter(run=run).count() == 3

    def test_a_bad_upload_lists_every_error_in_a_table(self, login, engineer, run, golden):
        content = "\n".join(
            [
                line(golden[0].pk),
                line(999_999_999),  # outside the run: a database check
                line(golden[1].pk, latency_ms=-3),  # a check of the line itself
                line(golden[2].pk, latency_ms=151.4),  # decimals are fine
            ]
        )
        client = login(engineer)
        page = client.post(
            f"/runs/{run.pk}/responses/import/", {"file": upload(content)}, follow=True
        )
        assert b"Nothing imported: 2 errors in the file" in page.content
        html = page.content.decode()
        table = html[html.index('id="import-errors"') :]
        table = table[: table.index("</section>")]
        rows = [row.split("</td><td>") for row in table.split('<tr><td class="n">')[1:]]
        assert [(cells[0], cells[1]) for cells in rows] == [
            ("2", "test_case_id"),
            ("3", "latency_ms"),
        ]
        assert "not in this run&#x27;s selection" in rows[0][2]
        assert not Response.objects.exists()
        job = run.jobs.get(kind="import")
        assert job.state == "failed"
        csv_page = client.get(f"/runs/{run.pk}/responses/import/{job.pk}/errors.csv")
        assert csv_page["Content-Type"].startswith("text/csv")
        lines = csv_page.content.decode().splitlines()
        assert lines[0] == "line,field,message" and len(lines) == 3
        assert lines[2] == '3,latency_ms,"must be a non-negative number or null, not -3"'

    def test_a_long_error_list_is_cut_on_the_page_and_whole_in_the_csv(
        self, login, engineer, run, golden
    ):
        content = "\n".join(["{bad"] * 150)
        client = login(engineer)
        page = client.post(
            f"/runs/{run.pk}/responses/import/", {"file": upload(content)}, follow=True
        )
        assert b"150 errors, the first 100 shown" in page.content
        job = run.jobs.get(kind="import")
        csv_page = client.get(f"/runs/{run.pk}/responses/import/{job.pk}/errors.csv")
        assert len(csv_page.content.decode().splitlines()) == 151

    def test_a_big_upload_goes_to_the_worker(
        self, login, engineer, run, golden, settings, tmp_path
    ):
        settings.MLEVAL_SYNC_IMPORT_BYTES = 10
        settings.MEDIA_ROOT = tmp_path
        content = "\n".join(line(c.pk) for c in golden)
        page = login(engineer).post(
            f"/runs/{run.pk}/responses/import/", {"file": upload(content)}, follow=True
        )
        assert b"being imported by the worker" in page.content
        job = run.jobs.get(kind="import")
        assert DBTaskResult.objects.get(id=job.task_id).args_kwargs["args"] == [job.pk]
        assert job.file.read().decode() == content and job.params == {"replace": True}
        assert not Response.objects.exists()
        import_responses_task.call(job.pk)
        job.refresh_from_db()
        assert job.state == "succeeded" and job.result["imported"] == len(golden)
        assert Response.objects.filter(run=run).count() == len(golden) and not job.file
        page = login(engineer).get(f"/runs/{run.pk}/")
        assert b"imported %d responses" % len(golden) in page.content

    def test_delete_says_what_cascades(self, login, engineer, run, golden):
        ingest_responses(run, [line(c.pk) for c in golden[:2]])
        response = Response.objects.filter(run=run).first()
        baker.make(
            Evaluation, response=response, evaluator_type="exact_match", score=1, passed=True
        )
        client = login(engineer)
        page = client.get(f"/runs/{run.pk}/delete/")
        assert b"<strong>2</strong> responses" in page.content
        assert b"<strong>1</strong> evaluations" in page.content
        assert client.post(f"/runs/{run.pk}/delete/")["Location"] == "/runs/"
        assert not ModelRun.objects.exists() and not Response.objects.exists()
        assert not Evaluation.objects.exists()


@pytest.mark.worker
def test_execute_from_the_page_with_the_real_worker(login, engineer, run_worker, golden):
    run = register_run(
        model_name="m", model_version="1", model_type="nlp", model_endpoint=SENTIMENT
    )
    client = login(engineer)
    client.post(f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 0})
    assert run_worker(batch=True).returncode == 0
    run.refresh_from_db()
    assert (run.status, run.completed_cases) == ("completed", 8)
    page = client.get(reverse("runs:detail", args=[run.pk]))
    assert b"8 cases called: 8 succeeded, 0 failed; run completed" in page.content


class TestExecuteWording:
    """The flash, the progress panel and the button say the same thing about a run."""

    def test_after_execute_the_panel_says_queued(self, login, engineer, run):
        page = login(engineer).post(
            f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 0}, follow=True
        )
        html = page.content.decode()
        assert "Execution queued" in html and 'id="run-queued"' in html
        assert "Not executed yet" not in html

    def test_a_completed_run_does_not_offer_resume(self, login, engineer, run):
        client = login(engineer)
        assert ">Execute</button>" in client.get(f"/runs/{run.pk}/").content.decode()
        execute_run(run)
        run.refresh_from_db()
        assert run.status == "completed" and run.remaining_cases == 0
        html = client.get(f"/runs/{run.pk}/").content.decode()
        assert "Resume" not in html and 'id="all-answered"' in html

    def test_a_cancelled_half_done_run_offers_resume(self, login, engineer, run, golden):
        ingest_responses(run, [json.loads(line(golden[0].pk))])
        ModelRun.objects.filter(pk=run.pk).update(status="cancelled")
        html = login(engineer).get(f"/runs/{run.pk}/").content.decode()
        assert ">Resume</button>" in html


@pytest.mark.worker
def test_a_run_whose_every_call_failed_never_reads_as_a_success(login, engineer, run_worker, db):
    """All 40 calls failed: the run said Failed but its task "succeeded" and "40/40 cases
    answered (100 %)"; now the run page, the list and the dashboard agree: 0 succeeded."""
    for i in range(40):
        make_case(input_data={"no_text": i})  # the demo model raises KeyError: 'text'
    run = register_run(
        model_name="broken", model_version="1", model_type="nlp", model_endpoint=SENTIMENT
    )
    client = login(engineer)
    client.post(f"/runs/{run.pk}/execute/", {"concurrency": 2, "timeout": 5, "retries": 0})
    assert run_worker(batch=True).returncode == 0
    run.refresh_from_db()
    assert (run.status, run.completed_cases, run.failed_cases) == ("failed", 0, 40)
    job = run.jobs.get(kind="execution")
    assert job.state == "failed" and "0 succeeded, 40 failed" in job.message
    detail = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert 'id="all-failed"' in detail and "Every call failed" in detail
    assert "succeeded</span>" in detail and "badge bad" in detail
    outcome = '0 <span class="muted">succeeded</span> · <span class="error">40 failed</span>'
    for page in ("/runs/", "/"):
        assert outcome in client.get(page).content.decode(), page
