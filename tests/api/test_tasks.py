"""/api/v1/tasks/<id>/ for every kind of job: one status function behind one endpoint."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from model_bakery import baker

from cases.tasks import create_import_job, import_cases_task
from jobs.models import Job
from runs.models import ModelRun
from runs.tasks import enqueue_import, import_responses_task


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db
def test_a_case_import_task_reports_its_progress_and_errors(curator, api_client):
    lines = b'{"input_data": {"t": 1}, "input_type": "text", "output_type": "classification"}\n'
    job = create_import_job(
        SimpleUploadedFile("c.jsonl", lines), file_format="jsonl", origin="", dry_run=True,
        user=curator,
    )  # fmt: skip
    client = api_client(curator)
    queued = client.get(f"/api/v1/tasks/{job.task_id}/").json()
    assert (queued["kind"], queued["status"], queued["job_id"]) == ("case_import", "queued", job.pk)
    assert queued["progress"] == {"done": 0, "total": len(lines)} and queued["run"] is None
    import_cases_task.call(job.pk)
    state = client.get(f"/api/v1/tasks/{job.task_id}/").json()
    assert state["status"] == "completed" and state["progress"]["done"] == len(lines)
    assert state["result"]["error_count"] == 1
    assert state["result"]["errors"][0]["field"] == "ground_truth"


@pytest.mark.django_db
def test_a_response_import_task_names_its_run(engineer, api_client):
    run = baker.make(ModelRun, model_type="nlp")
    result = enqueue_import(run, SimpleUploadedFile("r.jsonl", b"{not json\n"), user=engineer)
    job = Job.objects.get(task_id=result.id)
    assert job.created_by == engineer and job.target == run
    import_responses_task.call(job.pk)
    state = api_client(engineer).get(f"/api/v1/tasks/{result.id}/").json()
    # a refused file is a failed import (it used to say "completed" with nothing imported)
    assert (state["kind"], state["status"], state["run"]) == ("import", "failed", run.pk)
    assert state["result"]["errors"][0]["line"] == 1 and not Job.objects.get().file
