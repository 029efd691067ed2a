"""/cases/import/: upload, a background task checks or imports, the page shows progress and
the outcome (preview, counts, errors with their lines). One end-to-end run uses the real worker."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from cases.models import TestCase
from cases.tasks import import_cases_task
from jobs.models import Job


def record(**overrides) -> dict:
    return {
        "input_data": {"text": "Lovely kettle"},
        "input_type": "text",
        "ground_truth": {"label": "positive"},
        "output_type": "classification",
        "model_type": "nlp",
        **overrides,
    }


def upload(name: str, lines: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")


GOOD = [json.dumps(record(category=f"c{i}")) for i in range(12)]


def detail(job: Job) -> str:
    return reverse("cases:import_detail", args=[job.pk])


def make_job(**fields) -> Job:
    params = {"file_format": "jsonl", "origin": "", "dry_run": True}
    return Job.objects.create(kind="case_import", params=params, **fields)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db
class TestImportPage:
    def test_check_then_import(self, login, curator):
        client = login(curator)
        response = client.post(
            reverse("cases:import"), {"file": upload("golden.jsonl", GOOD), "check": "1"}
        )
        job = Job.objects.get()
        assert response["Location"] == detail(job) and job.kind == "case_import"
        assert job.params["dry_run"] and job.state == "queued"
        assert job.params["file_format"] == "jsonl" and job.file_name == "golden.jsonl"
        assert DBTaskResult.objects.filter(id=job.task_id).exists()  # queued for the worker

        import_cases_task.call(job.pk)
        body = client.get(detail(job)).content.decode()
        assert "12 cases would be imported" in body
        assert "First rows as they will be stored" in body and "Import these 12 cases" in body
        assert not TestCase.objects.exists()

        response = client.post(reverse("cases:import_run", args=[job.pk]))
        real = Job.objects.exclude(pk=job.pk).get()
        assert response["Location"] == detail(real) and not real.params["dry_run"]
        import_cases_task.call(real.pk)
        real.refresh_from_db()
        assert real.state == "succeeded" and real.result["imported"] == 12
        assert real.result["error_count"] == 0 and not real.file  # file cleaned up
        assert TestCase.objects.filter(created_by=curator).count() == 12
        assert "Imported 12 cases" in client.get(detail(real)).content.decode()

    def test_errors_show_their_lines(self, login, curator):
        lines = [*(GOOD * 3), "{not json", *GOOD[:3], json.dumps(record(origin="robot"))]
        client = login(curator)
        client.post(reverse("cases:import"), {"file": upload("bad.jsonl", lines), "import": "1"})
        job = Job.objects.get()
        assert not job.params["dry_run"]
        import_cases_task.call(job.pk)
        body = client.get(detail(job)).content.decode()
        assert "2 errors in 41 rows: nothing was imported" in body
        assert "line 37" in body and "malformed JSON" in body
        assert "line 41" in body and "origin" in body and "robot" in body
        assert not TestCase.objects.exists()

    def test_progress_polls_while_running(self, login, curator):
        job = make_job(file_size=1000, total=1000, state="running")
        Job.objects.filter(pk=job.pk).update(done=250, counters={"rows": 40})
        client = login(curator)
        response = client.get(detail(job), headers={"HX-Request": "true"})
        body = response.content.decode()
        assert 'hx-trigger="every 1s"' in body and "<html" not in body
        assert 'value="25" max="100"' in body and "40 rows" in body
        # The partial polls the job's own progress URL; the page reloads once it is over.
        polled = client.get(f"/jobs/{job.pk}/progress/", headers={"HX-Request": "true"})
        assert 'value="25" max="100"' in polled.content.decode() and "HX-Refresh" not in polled
        Job.objects.filter(pk=job.pk).update(state="succeeded", result={"rows": 40})
        polled = client.get(f"/jobs/{job.pk}/progress/", headers={"HX-Request": "true"})
        assert polled["HX-Refresh"] == "true" and "hx-trigger" not in polled.content.decode()

    def test_pages_query_count_is_bounded(self, login, curator, django_assert_max_num_queries):
        for i in range(5):
            make_job(file_name=f"{i}.jsonl")
        client = login(curator)
        with django_assert_max_num_queries(6):
            assert client.get(reverse("cases:import")).status_code == 200
        with django_assert_max_num_queries(6):
            job = Job.objects.first()
            assert client.get(detail(job)).status_code == 200

    def test_format_from_the_name_or_chosen(self, login, curator):
        client = login(curator)
        response = client.post(
            reverse("cases:import"), {"file": upload("cases.txt", GOOD), "check": "1"}
        )
        assert "Cannot tell the format" in response.content.decode()
        client.post(
            reverse("cases:import"),
            {"file": upload("cases.txt", GOOD), "file_format": "jsonl", "check": "1"},
        )
        assert Job.objects.get().params["file_format"] == "jsonl"

    def test_a_file_over_the_limit_is_refused(self, login, curator, settings):
        settings.MLEVAL_MAX_UPLOAD_BYTES = 100
        client = login(curator)
        response = client.post(
            reverse("cases:import"), {"file": upload("big.jsonl", GOOD), "check": "1"}
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "the upload limit is 100\xa0bytes" in body and "MLEVAL_MAX_UPLOAD_BYTES" in body
        assert not Job.objects.exists()

    def test_a_huge_upload_is_refused_before_it_is_read(self, login, curator, settings):
        settings.MLEVAL_MAX_UPLOAD_BYTES = 10
        huge = upload("huge.jsonl", GOOD * 1000)  # ~100 kB: past the limit and its slack
        response = login(curator).post(reverse("cases:import"), {"file": huge, "check": "1"})
        assert response.status_code == 413
        assert "the upload limit is 10\xa0bytes" in response.content.decode()
        assert not Job.objects.exists()


@pytest.mark.worker
def test_the_real_worker_imports_an_upload(run_worker, login, make_user, settings):
    settings.MEDIA_ROOT = settings.BASE_DIR / ".mleval" / "media"  # the worker's own MEDIA_ROOT
    curator = make_user("curator", "worker-curator")
    client = login(curator)
    client.post(reverse("cases:import"), {"file": upload("golden.jsonl", GOOD), "import": "1"})
    job = Job.objects.get()
    finished = run_worker(batch=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["imported"] == 12, job.error
    assert TestCase.objects.filter(created_by=curator).count() == 12
    assert not job.file  # the worker removed the uploaded file after importing it


@pytest.mark.django_db(transaction=True)
def test_progress_is_readable_while_the_import_is_uncommitted(monkeypatch, make_user):
    """The job's progress goes through a connection of its own: another connection (the page's
    poll) sees it move while the imported rows are still inside the COPY's open transaction."""
    from cases import importing, tasks
    from cases.tasks import create_import_job
    from jobs import running

    monkeypatch.setattr(importing, "PROGRESS_EVERY", 3)
    monkeypatch.setattr(running, "PROGRESS_EVERY_SECONDS", 0)
    curator = make_user("curator", "copy-curator")
    job = create_import_job(
        upload("golden.jsonl", GOOD), file_format="jsonl", origin="", dry_run=False, user=curator
    )
    seen = []

    def read_elsewhere() -> tuple:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT state, done, (counters ->> 'rows')::int FROM jobs WHERE id = %s",
                    [job.pk],
                )
                state, done, rows = cursor.fetchone()
                cursor.execute("SELECT count(*) FROM test_cases")
                return state, done, rows, cursor.fetchone()[0]
        finally:
            other.close()

    def spying_import(source, *, on_progress, **options):
        def progress(rows: int, bytes_read: int) -> None:
            on_progress(rows, bytes_read)
            seen.append((rows, bytes_read, read_elsewhere()))

        return importing.import_cases(source, on_progress=progress, **options)

    monkeypatch.setattr(tasks, "import_cases", spying_import)
    import_cases_task.call(job.pk)
    during = [(rows, done, elsewhere) for rows, done, elsewhere in seen if rows < 12]
    assert [rows for rows, *_ in during] == [3, 6, 9]
    for rows, bytes_read, (state, done, seen_rows, cases) in during:
        assert (state, done, seen_rows) == ("running", bytes_read, rows)
        assert cases == 0  # written by the COPY, not committed yet
    assert TestCase.objects.count() == 12
    job.refresh_from_db()
    assert job.state == "succeeded" and job.done == job.total == job.file_size > 0


@pytest.mark.django_db
def test_a_refused_import_is_not_listed_as_succeeded(login, curator):
    client = login(curator)
    bad = [*GOOD[:2], json.dumps(record(origin="robot"))]
    for name, lines, button in (
        ("bad.jsonl", bad, "import"),
        ("checked.jsonl", bad, "check"),
        ("good.jsonl", GOOD, "import"),
    ):
        client.post(reverse("cases:import"), {"file": upload(name, lines), button: "1"})
    for job in Job.objects.all():
        import_cases_task.call(job.pk)
    html = client.get(reverse("cases:import")).content.decode()
    rows = {
        name: html[html.index(name) : html.index("</tr>", html.index(name))]
        for name in ("bad.jsonl", "checked.jsonl", "good.jsonl")
    }
    assert '<span class="badge bad">Refused</span>' in rows["bad.jsonl"]
    assert '<span class="badge bad">Errors found</span>' in rows["checked.jsonl"]
    assert '<span class="badge ok">Imported</span>' in rows["good.jsonl"]
    assert "Succeeded" not in html
