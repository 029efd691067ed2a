"""/cases/import/: upload, a background task checks or imports, the page shows progress and
the outcome (preview, counts, errors with their lines). One end-to-end run uses the real worker."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from cases.models import ImportJob, TestCase
from cases.tasks import import_cases_task


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
        job = ImportJob.objects.get()
        assert response["Location"] == job.get_absolute_url()
        assert job.dry_run and job.status == "queued" and job.file_format == "jsonl"
        assert DBTaskResult.objects.filter(id=job.task_id).exists()  # queued for the worker

        import_cases_task.call(job.pk)
        body = client.get(job.get_absolute_url()).content.decode()
        assert "12 cases would be imported" in body
        assert "First rows as they will be stored" in body and "Import these 12 cases" in body
        assert not TestCase.objects.exists()

        response = client.post(reverse("cases:import_run", args=[job.pk]))
        real = ImportJob.objects.exclude(pk=job.pk).get()
        assert response["Location"] == real.get_absolute_url() and not real.dry_run
        import_cases_task.call(real.pk)
        real.refresh_from_db()
        assert real.succeeded and real.imported == 12 and not real.file  # file cleaned up
        assert TestCase.objects.filter(created_by=curator).count() == 12
        assert "Imported 12 cases" in client.get(real.get_absolute_url()).content.decode()

    def test_errors_show_their_lines(self, login, curator):
        lines = [*(GOOD * 3), "{not json", *GOOD[:3], json.dumps(record(origin="robot"))]
        client = login(curator)
        client.post(reverse("cases:import"), {"file": upload("bad.jsonl", lines), "import": "1"})
        job = ImportJob.objects.get()
        assert not job.dry_run
        import_cases_task.call(job.pk)
        body = client.get(job.get_absolute_url()).content.decode()
        assert "2 errors in 41 rows: nothing was imported" in body
        assert "line 37" in body and "malformed JSON" in body
        assert "line 41" in body and "origin" in body and "robot" in body
        assert not TestCase.objects.exists()

    def test_progress_polls_while_running(self, login, curator):
        job = ImportJob.objects.create(
            original_name="x.jsonl", file_format="jsonl", size_bytes=1000, status="running"
        )
        ImportJob.objects.filter(pk=job.pk).update(bytes_read=250, rows_read=40)
        response = login(curator).get(job.get_absolute_url(), headers={"HX-Request": "true"})
        body = response.content.decode()
        assert 'hx-trigger="every 1s"' in body and "<html" not in body
        assert 'value="25" max="100"' in body and "40 rows" in body

    def test_pages_query_count_is_bounded(self, login, curator, django_assert_max_num_queries):
        for i in range(5):
            ImportJob.objects.create(original_name=f"{i}.jsonl", file_format="jsonl")
        client = login(curator)
        with django_assert_max_num_queries(6):
            assert client.get(reverse("cases:import")).status_code == 200
        with django_assert_max_num_queries(6):
            job = ImportJob.objects.first()
            assert client.get(job.get_absolute_url()).status_code == 200

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
        assert ImportJob.objects.get().file_format == "jsonl"

    def test_a_file_over_the_limit_is_refused(self, login, curator, settings):
        settings.MLEVAL_MAX_UPLOAD_BYTES = 100
        client = login(curator)
        response = client.post(
            reverse("cases:import"), {"file": upload("big.jsonl", GOOD), "check": "1"}
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "the upload limit is 100\xa0bytes" in body and "MLEVAL_MAX_UPLOAD_BYTES" in body
        assert not ImportJob.objects.exists()

    def test_a_huge_upload_is_refused_before_it_is_read(self, login, curator, settings):
        settings.MLEVAL_MAX_UPLOAD_BYTES = 10
        huge = upload("huge.jsonl", GOOD * 1000)  # ~100 kB: past the limit and its slack
        response = login(curator).post(reverse("cases:import"), {"file": huge, "check": "1"})
        assert response.status_code == 413
        assert "the upload limit is 10\xa0bytes" in response.content.decode()
        assert not ImportJob.objects.exists()


@pytest.mark.worker
def test_the_real_worker_imports_an_upload(run_worker, login, make_user, settings):
    settings.MEDIA_ROOT = settings.BASE_DIR / ".mleval" / "media"  # the worker's own MEDIA_ROOT
    curator = make_user("curator", "worker-curator")
    client = login(curator)
    client.post(reverse("cases:import"), {"file": upload("golden.jsonl", GOOD), "import": "1"})
    job = ImportJob.objects.get()
    finished = run_worker(batch=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    job.refresh_from_db()
    assert job.status == "done" and job.imported == 12, job.message
    assert TestCase.objects.filter(created_by=curator).count() == 12
    assert not job.file  # the worker removed the uploaded file after importing it
