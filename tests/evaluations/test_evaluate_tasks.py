"""Background scoring: chunk tasks shared by real db_worker processes, and the job's progress."""

import time

import pytest
from django.db.models import JSONNull
from django_tasks_db.models import DBTaskResult
from model_bakery import baker

from cases.models import TestCase
from evaluations.evaluators import EvaluatorConfigError
from evaluations.models import Evaluation
from evaluations.pipeline import evaluate_run
from evaluations.tasks import enqueue_evaluation, evaluate_chunk_task, start_evaluation
from jobs.models import Job
from jobs.status import job_status
from runs.models import ModelRun, Response

LABELS = ["cat", "dog", "bird"]


def make_mixed_run(n: int) -> ModelRun:
    """n responses over three output types, with failed calls, malformed outputs and a
    malformed ground truth among them."""
    run = baker.make(ModelRun, model_type="nlp", config={})
    cases, outputs, errors = [], [], []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            truth, output = {"label": LABELS[i % 3]}, {"label": LABELS[(i // 3) % 3]}
        elif kind == 1:
            truth, output = {"text": f"answer {i % 7}"}, {"text": f"Answer {i % 5}!"}
        else:
            truth, output = {"value": float(i)}, {"value": i * 1.01}
        if i % 17 == 0:
            output = JSONNull()
        if i == 5:
            truth = {"txt": "oops"}  # a curation error
        cases.append(
            TestCase(
                input_data={"i": i},
                input_type="text",
                ground_truth=truth,
                output_type=["classification", "text", "regression"][kind],
            )
        )
        outputs.append(output)
        errors.append("connection reset" if i % 23 == 0 else "")
    TestCase.objects.bulk_create(cases)
    Response.objects.bulk_create(
        Response(run=run, test_case=case, output_data=output, error_message=error)
        for case, output, error in zip(cases, outputs, errors, strict=True)
    )
    return run


def stored(run: ModelRun) -> dict:
    return {
        (e.response_id, e.evaluator_type): (e.score, e.passed, e.metrics, e.feedback)
        for e in Evaluation.objects.for_run(run)
    }


def wait_for(job: Job, seconds: float = 60) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job still {job.state} after {seconds}s: {job_status(job)}")


@pytest.mark.worker
def test_two_workers_sharing_chunks_write_the_same_rows_as_one_process(run_worker, engineer):
    run = make_mixed_run(150)
    evaluate_run(run)
    expected = stored(run)
    assert len(expected) == 150
    Evaluation.objects.all().delete()

    job = enqueue_evaluation(run, user=engineer, chunk_size=5)
    workers = [run_worker(), run_worker()]
    job = wait_for(job)
    # The last chunk's task is marked successful by its worker a moment after the job is.
    deadline = time.monotonic() + 30
    chunks = DBTaskResult.objects.filter(task_path__endswith="evaluate_chunk_task")
    while chunks.exclude(status="SUCCESSFUL").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for worker in workers:
        worker.kill()

    assert job.state == "succeeded", job.error
    assert (job.parts_total, job.parts_done) == (30, 30)
    assert (job.total, job.done, job.counters["evaluations_written"]) == (150, 150, 150)
    assert job.created_by == engineer and job.finished_at is not None
    assert stored(run) == expected
    chunk_tasks = DBTaskResult.objects.filter(task_path__endswith="evaluate_chunk_task")
    assert chunk_tasks.count() == 30
    assert set(chunk_tasks.values_list("status", flat=True)) == {"SUCCESSFUL"}
    worker_ids = {w for ids in chunk_tasks.values_list("worker_ids", flat=True) for w in ids}
    assert len(worker_ids) == 2, "both workers should have taken chunks"


@pytest.mark.worker
def test_a_batch_worker_scores_with_named_evaluators_and_rescoring_replaces(run_worker, engineer):
    run = make_mixed_run(12)
    job = enqueue_evaluation(run, ["exact_match", 'fuzzy_ratio:{"threshold": 0.5}'], engineer)
    finished = run_worker(batch=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    job.refresh_from_db()
    assert job.state == "succeeded" and job.counters["evaluations_written"] == 24
    first = stored(run)
    enqueue_evaluation(run, ["exact_match", 'fuzzy_ratio:{"threshold": 0.5}'], engineer)
    run_worker(batch=True)
    assert Evaluation.objects.count() == 24
    assert {key: value[:2] for key, value in stored(run).items()} == {
        key: value[:2] for key, value in first.items()
    }


@pytest.mark.django_db
def test_enqueue_rejects_bad_evaluators_and_queues_nothing():
    run = make_mixed_run(3)
    with pytest.raises(EvaluatorConfigError, match="unknown evaluator 'bleu2'"):
        enqueue_evaluation(run, ["bleu2"])
    assert not Job.objects.exists() and not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_job_progress_counts_chunks_and_the_last_one_completes_it():
    """The tasks' bodies, called in this process (the worker tests above run them for real)."""
    run = make_mixed_run(7)
    job = enqueue_evaluation(run, chunk_size=3)
    assert job.state == "queued" and job.task_id
    assert job.params["evaluators"] == [
        {
            "name": "label_match",
            "params": {"ignore_case": False, "positive_label": None, "decision_threshold": None},
            "output_types": ["classification"],
        },
        {
            "name": "numeric_tolerance",
            "params": {"abs_tol": 1e-09, "rel_tol": 0.01, "threshold": 1.0},
            "output_types": ["regression"],
        },
        {"name": "text_normalized_match", "params": {}, "output_types": ["text"]},
    ]
    assert start_evaluation.call(job.pk) == {"chunks": 3}
    job.refresh_from_db()
    assert (job.state, job.parts_total, job.total) == ("running", 3, 7)
    queued = DBTaskResult.objects.filter(task_path__endswith="evaluate_chunk_task")
    chunks = [task.args_kwargs["args"] for task in queued.order_by("enqueued_at", "id")]
    assert len(chunks) == 3
    for i, args in enumerate(chunks):
        evaluate_chunk_task.call(*args)
        job.refresh_from_db()
        assert job.parts_done == i + 1
        assert job.state == ("succeeded" if i == 2 else "running")
    assert (job.done, job.percent) == (7, 100)
    assert Evaluation.objects.count() == 7


@pytest.mark.django_db
def test_a_chunk_that_cannot_run_fails_the_job_with_its_reason():
    run = make_mixed_run(4)
    job = enqueue_evaluation(run, chunk_size=2)
    start_evaluation.call(job.pk)
    Job.objects.filter(pk=job.pk).update(
        params={
            **job.params,
            "evaluators": [{"name": "iou", "params": {"iou_threshold": 3}, "output_types": None}],
        }
    )
    first = Response.objects.filter(run=run).order_by("id").first()
    with pytest.raises(EvaluatorConfigError):
        evaluate_chunk_task.call(job.pk, first.pk, first.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "iou_threshold" in job.error
    # The remaining chunks see the failure and skip.
    assert evaluate_chunk_task.call(job.pk, first.pk, first.pk)["skipped"] == 1


@pytest.mark.django_db
def test_an_empty_run_completes_at_once():
    run = baker.make(ModelRun, model_type="nlp")
    job = enqueue_evaluation(run)
    assert start_evaluation.call(job.pk) == {"chunks": 0}
    job.refresh_from_db()
    assert job.state == "succeeded" and job.percent == 100


@pytest.mark.django_db
def test_tasks_of_a_deleted_run_do_nothing():
    run = make_mixed_run(3)
    job = enqueue_evaluation(run)
    first = Response.objects.filter(run=run).order_by("id").first().pk
    run.delete()
    assert start_evaluation.call(job.pk) == {"chunks": 0}
    assert evaluate_chunk_task.call(job.pk, first, first)["skipped"] == 1
    assert not Evaluation.objects.exists()
