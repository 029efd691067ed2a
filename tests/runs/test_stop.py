"""Deleting a run stops its executors first, from the page and from the API alike (runs.run_locks
.stop): while one still holds the run, nothing is deleted and the caller is told to retry."""

import psycopg
import pytest
from django.db import connection
from django.test import Client

from accounts.models import ApiToken
from runs import run_locks
from runs.models import ModelRun, RunStatus


@pytest.fixture
def executor_on(run):
    """A second database session holding the run's shared lock, as a live executor does."""
    session = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    key = run_locks.run_lock_key(run.pk)
    session.execute("SELECT pg_advisory_lock_shared(%s, %s)", [run_locks.RUN_LOCKS, key])
    yield session
    session.close()


@pytest.fixture
def quick_stop(monkeypatch):
    monkeypatch.setattr(run_locks, "STOP_WAIT_SECONDS", 0.3)


@pytest.mark.django_db(transaction=True)
def test_a_run_still_executing_is_cancelled_not_deleted(
    run, engineer, login, executor_on, quick_stop
):
    _, raw = ApiToken.objects.issue(engineer, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.delete(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 409 and "still stopping" in response.json()["detail"]
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED  # told to stop: the executor sees it and leaves
    page = login(engineer).post(f"/runs/{run.pk}/delete/", follow=True)
    assert b"still stopping" in page.content and ModelRun.objects.filter(pk=run.pk).exists()
    executor_on.close()  # the executor has gone
    assert api.delete(f"/api/v1/runs/{run.pk}/").status_code == 204
    assert not ModelRun.objects.filter(pk=run.pk).exists()


@pytest.mark.django_db
def test_an_idle_run_is_deleted_at_once(run, engineer):
    _, raw = ApiToken.objects.issue(engineer, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert run.status == RunStatus.PENDING  # active, but no executor holds it
    assert api.delete(f"/api/v1/runs/{run.pk}/").status_code == 204
    assert not ModelRun.objects.exists()
