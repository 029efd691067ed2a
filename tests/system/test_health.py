"""System health (/system/, /healthz): figures against COUNT(*), heartbeats of a real worker."""

import signal
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.test import Client, override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from model_bakery import baker

from accounts.models import AuditEvent
from cases.models import TestCase
from runs.models import ModelRun, Response
from system.counters import count_request
from system.health import collect, sparkline, take_snapshot
from system.models import RequestCounter, SystemHealthMetric, WorkerHeartbeat

TASKS = DBTaskResult._meta.db_table


def _count(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _task(status: str, **fields) -> DBTaskResult:
    return baker.make(
        DBTaskResult,
        status=status,
        task_path="jobs.tasks.nothing",
        backend_name="default",
        queue_name="default",
        args_kwargs={"args": [], "kwargs": {}},
        **fields,
    )


@pytest.mark.django_db
def test_counts_equal_count_star_on_a_seeded_database(make_case):
    cases = [make_case() for _ in range(7)]
    run = baker.make(ModelRun, model_name="m", model_version="1")
    for case in cases[:3]:
        baker.make(Response, run=run, test_case=case)
    now = timezone.now()
    _task(TaskResultStatus.READY)
    _task(TaskResultStatus.READY)
    DBTaskResult.objects.filter(pk=_task(TaskResultStatus.READY).pk).update(
        enqueued_at=now - timedelta(minutes=10)
    )
    _task(TaskResultStatus.RUNNING)
    _task(TaskResultStatus.FAILED, finished_at=now - timedelta(minutes=5))
    _task(TaskResultStatus.FAILED, finished_at=now - timedelta(hours=3))  # outside the hour

    health = collect()

    rows = {table.table: table for table in health.tables}
    for model in (TestCase, ModelRun, Response, AuditEvent, DBTaskResult):
        table = model._meta.db_table
        assert rows[table].rows == _count(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        assert not rows[table].estimated
    assert rows[TestCase._meta.db_table].rows >= 7
    assert health.queued == _count(f"SELECT COUNT(*) FROM {TASKS} "
                                   "WHERE status = 'READY'") == 3  # fmt: skip
    assert health.running == 1
    assert (
        health.failed_last_hour
        == _count(
            f"SELECT COUNT(*) FROM {TASKS} WHERE status = 'FAILED' "
            "AND finished_at >= now() - interval '1 hour'"
        )
        == 1
    )
    assert 600 <= health.oldest_queued_seconds < 700
    assert health.database_bytes == _count("SELECT pg_database_size(current_database())")
    assert health.database == "external"  # the tests run on DATABASE_URL


@pytest.mark.django_db
def test_requests_and_server_errors_are_counted_per_minute(admin_user):
    client = Client()
    before = collect()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    count_request(503)
    after = collect()
    assert after.requests_last_hour - before.requests_last_hour == 4
    assert after.errors_last_hour - before.errors_last_hour == 1
    assert (
        RequestCounter.objects.get(minute=timezone.now().replace(second=0, microsecond=0)).requests
        >= 4
    )


@pytest.mark.django_db
def test_one_snapshot_a_minute_and_old_ones_pruned():
    old = baker.make(SystemHealthMetric, taken_at=timezone.now() - timedelta(days=31))
    recent = baker.make(SystemHealthMetric, taken_at=timezone.now() - timedelta(days=29))
    assert take_snapshot() is True
    assert take_snapshot() is False  # the same minute: another worker already took it
    assert not SystemHealthMetric.objects.filter(pk=old.pk).exists()
    assert SystemHealthMetric.objects.filter(pk=recent.pk).exists()
    latest = SystemHealthMetric.objects.first()
    assert (
        latest.taken_at.second == 0
        and latest.queued == DBTaskResult.objects.filter(status=TaskResultStatus.READY).count()
    )


def test_sparkline_scales_to_the_box():
    assert sparkline([0, 5, 10], width=100, height=60) == "0.0,58.0 50.0,30.0 100.0,2.0"
    assert sparkline([None, None]) == ""


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "outsider"])
def test_only_admins_see_the_system_page(request, persona):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/system/").status_code == 403
    assert client.get("/system/?format=json").status_code == 403
    assert b'href="/system/"' not in client.get("/").content


@pytest.mark.django_db
def test_admin_sees_the_page_and_the_json(admin_user, make_case):
    make_case()
    take_snapshot()
    client = Client()
    client.force_login(admin_user)
    page = client.get("/system/")
    assert page.status_code == 200
    assert b"<polyline" in page.content and TestCase._meta.db_table.encode() in page.content
    data = client.get("/system/?format=json").json()
    assert {"queued", "running", "failed_last_hour", "oldest_queued_seconds", "workers",
            "workers_alive", "requests_last_hour", "errors_last_hour", "error_rate",
            "database", "database_bytes", "tables"} <= data.keys()  # fmt: skip
    counts = {table["table"]: table["rows"] for table in data["tables"]}
    assert counts[TestCase._meta.db_table] == TestCase.objects.count()


@pytest.mark.django_db
def test_healthz_wants_a_fresh_heartbeat_only_when_a_worker_is_expected():
    client = Client()
    assert client.get("/healthz").status_code == 200
    with override_settings(MLEVAL_EXPECT_WORKER=True, MLEVAL_WORKER_STALE_SECONDS=120):
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json()["worker"] == "stale"
        beat = baker.make(WorkerHeartbeat, seen_at=timezone.now() - timedelta(seconds=200),
                          started_at=timezone.now())  # fmt: skip
        assert client.get("/healthz").status_code == 503
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(seen_at=timezone.now())
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "worker": "ok"}


def _wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_real_worker_beats_and_healthz_fails_once_it_is_stopped(run_worker):
    worker = run_worker(env={"MLEVAL_WORKER_HEARTBEAT_SECONDS": "0.2"})
    first = _wait_for(lambda: WorkerHeartbeat.objects.filter(pid=worker.pid).first())
    later = _wait_for(
        lambda: WorkerHeartbeat.objects.filter(pid=worker.pid, seen_at__gt=first.seen_at).first()
    )
    assert later.worker_id == first.worker_id
    assert WorkerHeartbeat.objects.count() == 1
    _wait_for(lambda: SystemHealthMetric.objects.filter(workers_alive__gte=1).exists())
    client = Client()
    with override_settings(MLEVAL_EXPECT_WORKER=True, MLEVAL_WORKER_STALE_SECONDS=2):
        assert client.get("/healthz").status_code == 200
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        stopped = WorkerHeartbeat.objects.get(pid=worker.pid).seen_at
        _wait_for(lambda: timezone.now() - stopped > timedelta(seconds=2.5), timeout=10)
        response = client.get("/healthz")
        assert response.status_code == 503, response.content
        assert WorkerHeartbeat.objects.get(pid=worker.pid).seen_at == stopped
