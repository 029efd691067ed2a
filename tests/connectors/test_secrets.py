"""Header secrets: `${NAME}` resolved in the worker's environment at call time, never stored,
shown, exported, logged or put in an error; a missing variable fails the run naming it."""

import pytest
from django.db import connection

from jobs.models import Job
from runs.callers import ExecutionOptions
from runs.models import ModelRun
from runs.selection import register_run
from runs.tasks import enqueue_execution
from tests.baker_recipes import make_cases

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SECRET = "sk-planted-3f9c1e7a0b"
HEADERS = {"Authorization": "Bearer ${MLEVAL_PLANTED_KEY}", "X-Team": "evals"}


def secret_run(url: str) -> ModelRun:
    make_cases(4)
    return register_run(
        model_name="m",
        model_version="1",
        model_type="nlp",
        model_endpoint=f"openai:{url}",
        config={"headers": HEADERS},
    )


def rows_holding(text: str) -> list[str]:
    """Every table of the database whose rows' text holds `text`."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(
                f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE %s', [f"%{text}%"]
            )
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_the_worker_resolves_the_header_and_nothing_shows_it(
    openai_server, run_worker, admin_user, login
):
    run = secret_run(openai_server.base_url)
    enqueue_execution(run, ExecutionOptions(concurrency=2))
    done = run_worker(batch=True, env={"MLEVAL_PLANTED_KEY": SECRET})
    assert done.returncode == 0, done.stdout + done.stderr
    run.refresh_from_db()
    assert (run.status, run.completed_cases) == ("completed", 4)
    requests = openai_server.chat_requests()
    assert [r.headers["authorization"] for r in requests] == [f"Bearer {SECRET}"] * 4
    assert {r.headers["x-team"] for r in requests} == {"evals"}

    client = login(admin_user)
    job = Job.objects.for_target(run).get()
    pages = [
        f"/runs/{run.pk}/",
        "/runs/",
        f"/runs/{run.pk}/report/",
        f"/runs/{run.pk}/report/?format=json",
        f"/runs/{run.pk}/report/?format=csv",
        f"/api/v1/runs/{run.pk}/",
        "/api/v1/runs/",
        f"/api/v1/runs/{run.pk}/responses/",
        f"/api/v1/runs/{run.pk}/report/",
        f"/api/v1/tasks/{job.task_id}/",
        f"/admin/runs/modelrun/{run.pk}/change/",
        "/admin/jobs/job/",
        "/audit/",
    ]
    for url in pages:
        answer = client.get(url)
        assert answer.status_code == 200, url
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert SECRET.encode() not in body, url
    shown = client.get(f"/api/v1/runs/{run.pk}/").json()["config"]["headers"]
    assert shown == HEADERS  # the reference is what is stored and shown
    assert SECRET not in done.stdout + done.stderr
    assert rows_holding(SECRET) == []
    assert "sessions" not in rows_holding("MLEVAL_PLANTED_KEY")  # the probe itself works
    assert "model_runs" in rows_holding("MLEVAL_PLANTED_KEY")


def test_a_missing_variable_fails_the_run_at_once_naming_it(openai_server, run_worker):
    run = secret_run(openai_server.base_url)
    enqueue_execution(run, ExecutionOptions(concurrency=2))
    done = run_worker(batch=True, env={"MLEVAL_PLANTED_KEY_OTHER": SECRET})
    assert done.returncode == 0, done.stdout + done.stderr
    run.refresh_from_db()
    assert run.status == "failed" and run.completed_cases + run.failed_cases == 0
    job = Job.objects.for_target(run).get()
    assert job.state == "failed"
    assert (
        "${MLEVAL_PLANTED_KEY}" in job.error and "not set in the worker's environment" in job.error
    )
    assert openai_server.chat_requests() == []
    assert SECRET not in done.stdout + done.stderr and rows_holding(SECRET) == []
