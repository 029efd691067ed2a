"""The one job model: its state machine, progress counters, liveness check and upload storage."""

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone
from model_bakery import baker

from jobs.models import Job
from jobs.running import JOB_LOCKS, running
from jobs.status import job_status
from runs.models import ModelRun


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db
class TestState:
    def test_running_marks_the_job_then_succeeds(self):
        job = Job.objects.create(kind="case_import")
        with running(job.pk) as inside:
            assert Job.objects.get(pk=job.pk).state == "running" and inside.started_at
        job.refresh_from_db()
        assert job.state == "succeeded" and job.finished_at >= job.started_at

    def test_an_error_fails_the_job_with_its_reason_and_is_raised(self):
        job = Job.objects.create(kind="execution")
        with pytest.raises(RuntimeError), running(job.pk):
            raise RuntimeError("the endpoint vanished")
        job.refresh_from_db()
        assert job.state == "failed" and job.error == "RuntimeError: the endpoint vanished"
        assert job_status(job)["status"] == "failed" and job_status(job)["result"] is None

    def test_a_cancelled_job_is_not_started_by_a_late_worker(self):
        job = Job.objects.create(kind="execution", state="cancelled")
        with running(job.pk) as inside:
            assert inside is None
        assert Job.objects.get(pk=job.pk).state == "cancelled"

    def test_parts_count_up_and_the_last_completes_the_job(self):
        job = Job.objects.create(kind="evaluation", counters={"evaluations_written": 0})
        jobs = Job.objects.filter(pk=job.pk)
        jobs.start_parts(2, total=7)
        jobs.record_part(4, evaluations_written=8)
        job.refresh_from_db()
        assert (job.state, job.parts_done, job.done, job.percent) == ("running", 1, 4, 57)
        jobs.record_part(3, evaluations_written=6, new_counter=1)
        job.refresh_from_db()
        assert (job.state, job.parts_done, job.done) == ("succeeded", 2, 7)
        assert job.counters == {"evaluations_written": 14, "new_counter": 1}
        assert job_status(job)["result"] == {"job_id": job.pk, **job.counters}

    def test_a_failed_job_keeps_its_first_error(self):
        job = Job.objects.create(kind="evaluation")
        Job.objects.filter(pk=job.pk).fail("first")
        Job.objects.filter(pk=job.pk).fail("second")
        assert Job.objects.get(pk=job.pk).error == "first"


@pytest.mark.django_db
class TestLostWorkers:
    def running_job(self, seconds_ago: float) -> Job:
        started = timezone.now() - timedelta(seconds=seconds_ago)
        return Job.objects.create(kind="case_import", state="running", started_at=started)

    def test_a_running_job_nobody_holds_is_failed_when_read(self):
        job = self.running_job(60)
        state = job_status(job)
        assert state["status"] == "failed" and "stopped without finishing" in state["error"]
        assert Job.objects.get(pk=job.pk).state == "failed"

    def test_a_job_whose_worker_holds_its_lock_stays_running(self):
        job = self.running_job(60)
        worker = connections.create_connection("default")  # the live worker's session
        try:
            with worker.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCKS, job.pk])
            assert job_status(job)["status"] == "running"
        finally:
            worker.close()
        # Its session ended without finishing the job (the server lets go of the lock as the
        # backend exits, a moment after the client hangs up).
        deadline = time.monotonic() + 5
        while job_status(job)["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.state == "failed"

    def test_a_job_that_only_just_started_is_given_time(self):
        job = self.running_job(0)
        assert job_status(job)["status"] == "running"


@pytest.mark.django_db
def test_case_and_response_uploads_are_stored_alike(settings):
    run = baker.make(ModelRun, model_type="nlp")
    stored = []
    for kind, target, name in (("case_import", None, "cases.jsonl"), ("import", run, "r.jsonl")):
        job = Job(kind=kind, target=target)
        job.store_upload(SimpleUploadedFile(name, b'{"a": 1}\n'))
        job.save()
        stored.append(job)
        assert job.file_name == name and job.file_size == 9
        assert job.file.name.startswith("uploads/") and job.file.name.endswith(".jsonl")
        assert (settings.MEDIA_ROOT / job.file.name).read_bytes() == b'{"a": 1}\n'
    assert stored[0].file.name != stored[1].file.name


@pytest.mark.django_db
def test_a_runs_jobs_go_with_the_run():
    run = baker.make(ModelRun, model_type="nlp")
    other = baker.make(ModelRun, model_type="nlp")
    Job.objects.create(kind="execution", target=run)
    Job.objects.create(kind="evaluation", target=run)
    kept = Job.objects.create(kind="execution", target=other)
    run.delete()
    assert list(Job.objects.all()) == [kept] and list(other.jobs.all()) == [kept]
