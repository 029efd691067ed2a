"""Faults: PostgreSQL restarted under a running `execute_run` and under an `import_cases`.

A throwaway embedded PostgreSQL (pgserver, as `make run` uses) gets the test database's schema
(pg_dump, faster than migrating), and real `manage.py` processes work against it while the test
stops and starts the server under them. The run must fail cleanly or carry on, and finish on
the next `execute_run` with every case answered exactly once; the import must be all or nothing.

The third fault of the issue, a worker killed mid-task, is tests/runs/test_worker.py
(`test_a_worker_killed_mid_run_is_resumed_after_restart`: SIGKILL mid-run, then a new
worker resumes the run).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response as WerkzeugResponse

from mleval_site import embedded_db

# The tests themselves use the throwaway server; the mark makes pytest-django create the test
# database whose schema the server copies.
pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"
RUN_CASES = 400
IMPORT_CASES = 150_000

SEED = """
import django; django.setup()
from cases.models import TestCase
from runs.selection import register_run
TestCase.objects.bulk_create(
    TestCase(input_data={"text": f"case {i}"}, input_type="text",
             ground_truth={"label": "positive"}, output_type="classification",
             model_type="nlp", category="sentiment")
    for i in range(%(n)d)
)
run = register_run(model_name="m", model_version="1", model_type="nlp",
                   model_endpoint="%(endpoint)s")
print(run.pk)
"""


@dataclass
class Server:
    data_dir: Path
    url: str

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def restart(self) -> float:
        """Stop (fast: every session is cut) and start the same data directory; seconds down."""
        started = time.monotonic()
        embedded_db.restart(self.data_dir)
        return time.monotonic() - started

    def manage(self, *args: str, **kwargs) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": self.url, "DJANGO_SETTINGS_MODULE":
               "mleval_site.settings_test", "MLEVAL_REQUEST_LOG": "false"}  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )


def _schema(settings_dict: dict) -> str:
    """The test database's schema (tables, indexes, triggers, functions) as SQL."""
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    args = [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
            "-h", settings_dict["HOST"] or "127.0.0.1", "-U", settings_dict["USER"],
            "-p", str(settings_dict["PORT"] or 5432), settings_dict["NAME"]]  # fmt: skip
    sql = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    # Column options some servers add on their own (Django never sets any).
    return re.sub(r"(?m)^ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(.*\);\n", "", sql)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Server:
    from django.db import connection

    # A short path: the server's Unix socket lives in its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="mleval-fault-", dir="/tmp"))
    try:
        embedded_db.start(data_dir)
        instance = Server(data_dir, embedded_db.database_url(data_dir))
        with psycopg.connect(instance.url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            conn.execute(_schema(connection.settings_dict))
        yield instance
    finally:
        embedded_db.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def model_server():
    """A real HTTP model endpoint taking 10 ms a call and counting calls per case."""
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def handle(request):
        case_id = request.get_json()["test_case_id"]
        with lock:
            calls[case_id] = calls.get(case_id, 0) + 1
        time.sleep(0.01)
        return WerkzeugResponse(json.dumps({"label": "positive"}), mimetype="application/json")

    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.expect_request("/predict", method="POST").respond_with_handler(handle)
    http.start()
    yield http.url_for("/predict"), calls
    http.clear()
    if http.is_running():
        http.stop()


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_postgres_restarted_during_execute_run(server, model_server):
    endpoint, calls = model_server
    seed = subprocess.run(
        [sys.executable, "-c", SEED % {"n": RUN_CASES, "endpoint": endpoint}],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": server.url,
             "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"},
    )  # fmt: skip
    assert seed.returncode == 0, seed.stderr
    run_id = int(seed.stdout.split()[-1])
    responses = "SELECT count(*), count(DISTINCT test_case_id) FROM responses WHERE run_id = %s"

    first = server.manage("execute_run", str(run_id), "--concurrency", "4", "--retries", "0")
    _wait_for(lambda: server.query(responses, (run_id,))[0][0] >= 60, 60, "the first responses")
    down = server.restart()
    stdout, stderr = first.communicate(timeout=90)
    stored, distinct = server.query(responses, (run_id,))[0]
    assert stored == distinct and 60 <= stored <= RUN_CASES
    if first.returncode != 0:  # failed: with one clear line, and nothing half-written
        assert "Traceback" not in stderr, stderr
        assert f"execute_run {run_id}" in stderr, stderr  # says how to resume
    # The next call resumes: only the cases without a response are called.
    second = server.manage("execute_run", str(run_id), "--concurrency", "4")
    out, err = second.communicate(timeout=90)
    assert second.returncode == 0, err
    assert out.strip().splitlines()[-1] == f"completed {RUN_CASES}, failed 0"
    [(status, completed, failed, total)] = server.query(
        "SELECT status, completed_cases, failed_cases, total_cases FROM model_runs WHERE id = %s",
        (run_id,),
    )
    assert (status, completed, failed, total) == ("completed", RUN_CASES, 0, RUN_CASES)
    assert server.query(responses, (run_id,))[0] == (RUN_CASES, RUN_CASES)
    # Every case was called. Those answered but not yet stored at the cut (the executor stores
    # in batches; it claims 32 cases at a time at this concurrency) were called again.
    assert len(calls) == RUN_CASES
    assert sum(calls.values()) - RUN_CASES <= 2 * 32, (sum(calls.values()), down)


def test_postgres_restarted_during_an_import_is_all_or_nothing(server, tmp_path):
    path = tmp_path / "cases.jsonl"
    line = '{"input_data": {"text": "case %d"}, "input_type": "text", "ground_truth": {"label": "a"}, "output_type": "classification", "model_type": "nlp", "category": "faults"}\n'  # noqa: E501
    path.write_text("".join(line % i for i in range(IMPORT_CASES)))
    count = "SELECT count(*) FROM test_cases WHERE category = 'faults'"
    copying = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY test_cases%%'"

    first = server.manage("import_cases", str(path))
    _wait_for(lambda: server.query(copying)[0][0] > 0, 60, "the import's COPY")
    time.sleep(0.5)  # well into the file
    assert first.poll() is None, "the import finished before the restart: make the file bigger"
    server.restart()
    stdout, stderr = first.communicate(timeout=90)
    assert first.returncode != 0
    assert "Traceback" not in stderr and "nothing imported" in stderr, stderr
    assert "the connection to the database was lost" in stderr, stderr
    assert server.query(count)[0][0] == 0  # nothing of the file was kept

    again = server.manage("import_cases", str(path))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert out.strip().splitlines()[-1] == f"imported {IMPORT_CASES} cases"
    assert server.query(count)[0][0] == IMPORT_CASES
