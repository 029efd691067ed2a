"""Production hardening: request logs, login throttling, the read-replica router."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_each_request_logs_one_json_line(viewer, login, caplog):
    caplog.set_level(logging.INFO, logger="mleval.requests")
    login(viewer).get("/")
    [record] = [r for r in caplog.records if r.name == "mleval.requests"]
    fields = record.fields
    assert fields["path"] == "/" and fields["status"] == 200 and fields["user"] == "viewer"
    assert fields["queries"] >= 1 and fields["duration_ms"] >= 0
    from mleval_site.observability import JsonLineFormatter

    line = json.loads(JsonLineFormatter().format(record))
    assert line["event"] == "request" and line["method"] == "GET"


@pytest.mark.django_db
@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_login_attempts_are_throttled(viewer):
    client = Client()
    for _ in range(2):
        response = client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
        assert response.status_code == 200
    third = client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    assert third.status_code == 429
    # Locked: even the right password is refused now.
    response = client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    # Another username from the same address is not locked out.
    assert (
        Client().post("/accounts/login/", {"username": "nobody", "password": "x"}).status_code
        == 200
    )


REPLICA_SCRIPT = """
import django; django.setup()
from django.db import connections
from django.test.utils import CaptureQueriesContext
from cases.models import TestCase
from mleval_site.db_router import reading_from_replica
with CaptureQueriesContext(connections["replica"]) as replica, \\
     CaptureQueriesContext(connections["default"]) as default:
    with reading_from_replica() as alias:
        TestCase.objects.count()
    TestCase.objects.count()
print(alias, len(replica.captured_queries), len(default.captured_queries))
"""


@pytest.mark.django_db
def test_reports_read_from_the_replica_when_configured():
    """A second connection stands in for the replica: reads in the block go there, others not."""
    from django.db import connection

    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    if settings_dict["HOST"].startswith("/"):
        from urllib.parse import quote

        url = f"postgres://{settings_dict['USER']}@{quote(settings_dict['HOST'], safe='')}/"
        url += settings_dict["NAME"]
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_REPLICA_URL": url,
           "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", REPLICA_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    alias, replica_queries, default_queries = out.stdout.split()
    assert alias == "replica"
    assert int(replica_queries) == 1 and int(default_queries) == 1


def test_without_a_replica_reports_read_from_default():
    from mleval_site.db_router import ReplicaRouter, reading_from_replica

    with reading_from_replica() as alias:
        assert alias == "default"
        assert ReplicaRouter().db_for_read(None) is None


def test_api_throttling_shares_a_redis_cache_between_processes():
    """Two processes with CACHE_URL on the machine's Redis see one budget (skipped without it)."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    import uuid

    key = f"mleval-test-{uuid.uuid4().hex}"  # unique: parallel runs share the machine's Redis
    script = (
        "import django; django.setup();"
        "from django.core.cache import cache;"
        f"print(cache.incr({key!r}) if not cache.add({key!r}, 1, timeout=60) else 1)"
    )
    env = {**os.environ, "CACHE_URL": "redis://127.0.0.1:6379/15",
           "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}  # fmt: skip
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    first, second = run(), run()
    assert first.returncode == 0, first.stderr
    assert (first.stdout.strip(), second.stdout.strip()) == ("1", "2")


def test_bad_cache_url_stops_start_up():
    env = {
        **os.environ,
        "CACHE_URL": "nonsense://x",
        "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test",
    }
    out = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0 and "CACHE_URL has a bad value" in out.stderr
