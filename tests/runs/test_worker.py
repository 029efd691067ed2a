"""Runs executed by the real worker process (`manage.py db_worker`), killed and restarted."""

import signal
import time

import pytest
from django_tasks_db.models import DBTaskResult

from jobs.models import Job
from runs.callers import ExecutionOptions
from runs.models import ModelRun, Response
from runs.tasks import WORKER_LOST, enqueue_execution
from tests.baker_recipes import make_case

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
WATCHDOG = {"MLEVAL_RUN_WATCHDOG_SECONDS": "1"}


def http_run(url: str, cases: int):
    from runs.selection import register_run

    for i in range(cases):
        make_case(input_data={"text": f"case {i}: great"})
    return register_run(model_name="m", model_version="1", model_type="nlp", model_endpoint=url)


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def task_statuses(run) -> list[str]:
    ids = run.jobs.filter(kind="execution").order_by("id").values_list("task_id", flat=True)
    by_id = {str(r.pk): r.status for r in DBTaskResult.objects.filter(pk__in=list(ids))}
    return [by_id[task_id] for task_id in ids]


def test_the_worker_executes_a_queued_run(model_server, run_worker):
    run = http_run(model_server.url, 12)
    result = enqueue_execution(run, ExecutionOptions(concurrency=4))
    assert ModelRun.objects.get(pk=run.pk).status == "pending"
    done = run_worker(batch=True)
    assert done.returncode == 0, done.stdout + done.stderr
    run.refresh_from_db()
    assert (run.status, run.completed_cases, run.failed_cases) == ("completed", 12, 0)
    task = DBTaskResult.objects.get(id=result.id)
    assert task.status == "SUCCESSFUL" and task.return_value["called"] == 12
    job = Job.objects.for_target(run).get()
    assert (job.kind, job.state, job.done, job.total) == ("execution", "succeeded", 12, 12)
    assert job.message == "12 cases called: 12 succeeded, 0 failed; run completed"
    assert job.result["called"] == 12


def test_the_worker_prints_each_task_line_once_in_development(model_server, run_worker):
    """Under DEBUG, Django's "django" logger printed the worker's lines a second time."""
    run = http_run(model_server.url, 2)
    result = enqueue_execution(run, ExecutionOptions(concurrency=1))
    done = run_worker(batch=True, env={"DEBUG": "true"})
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    for state in ("RUNNING", "SUCCESSFUL"):
        line = f"Task id={result.id} path=runs.tasks.execute_run_task state={state}"
        assert output.count(line) == 1, output


def test_a_worker_killed_mid_run_is_resumed_after_restart(model_server, run_worker):
    model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.1)
    run = http_run(model_server.url, 60)
    enqueue_execution(run, ExecutionOptions(concurrency=4))
    worker = run_worker(env=WATCHDOG)
    wait_for(lambda: Response.objects.filter(run=run).count() >= 10, what="first responses")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    stored_at_kill = Response.objects.filter(run=run).count()
    assert stored_at_kill < 60 and ModelRun.objects.get(pk=run.pk).status == "running"

    run_worker(env=WATCHDOG)  # the restart: the queued watchdog finds the run orphaned
    wait_for(
        lambda: ModelRun.objects.get(pk=run.pk).status == "completed", what="the run to finish"
    )
    run.refresh_from_db()
    answers = {r.test_case_id: r.created_at.timestamp() for r in Response.objects.filter(run=run)}
    assert len(answers) == 60 == run.completed_cases and run.failed_cases == 0
    for case_id, stored_at in answers.items():  # nothing called again once its answer is stored
        assert all(called <= stored_at for called in model_server.calls[case_id]), case_id
    repeated = [c for c, times in model_server.calls.items() if len(times) > 1]
    assert len(repeated) <= 4 * 2 + 32  # at most what the killed executor had claimed
    # The run is marked completed a moment before its task and job are (they end after it).
    statuses = wait_for(
        lambda: (s := task_statuses(run))[-1] == "SUCCESSFUL" and s, what="the last task"
    )
    assert statuses[0] == "FAILED"
    lost_job = run.jobs.earliest("id")
    lost = DBTaskResult.objects.get(id=lost_job.task_id)
    assert lost.exception_class_path == WORKER_LOST
    assert lost_job.state == "failed" and "stopped without finishing" in lost_job.error
    assert run.jobs.latest("id").state == "succeeded"


def test_cancel_stops_the_worker_run_within_seconds(model_server, run_worker):
    model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.2)
    run = http_run(model_server.url, 80)
    result = enqueue_execution(run, ExecutionOptions(concurrency=2))
    run_worker(env=WATCHDOG)
    wait_for(lambda: Response.objects.filter(run=run).exists(), what="first responses")
    ModelRun.objects.get(pk=run.pk).cancel()
    cancelled_at = time.monotonic()
    wait_for(
        lambda: DBTaskResult.objects.get(id=result.id).status == "SUCCESSFUL",
        timeout=10,
        what="the task to stop",
    )
    assert time.monotonic() - cancelled_at < 3
    run.refresh_from_db()
    assert run.status == "cancelled" and 0 < run.completed_cases < 80
    assert run.completed_cases == Response.objects.filter(run=run).count()
    assert run.jobs.get().state == "cancelled"


def test_several_workers_share_a_run_without_calling_a_case_twice(model_server, run_worker):
    model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.02)
    run = http_run(model_server.url, 120)
    for _ in range(3):
        enqueue_execution(run, ExecutionOptions(concurrency=4))
    for _ in range(3):
        run_worker(env=WATCHDOG)
    wait_for(lambda: ModelRun.objects.get(pk=run.pk).status == "completed", what="completion")
    assert sorted({len(times) for times in model_server.calls.values()}) == [1]
    assert len(model_server.calls) == 120
    wait_for(lambda: task_statuses(run) == ["SUCCESSFUL"] * 3, what="all tasks to finish")
