"""The REST API against its baselines, in the same run, over real HTTP (gunicorn, one worker):

- POST 100,000 responses as NDJSON to /api/v1/runs/<id>/responses/ next to `import_responses`
  of the same file (goal: within 1.5x), each into a fresh run over the same cases, then both
  again as a replacing re-import (alternated twice, best of each);
- GET a page of 100 cases (/api/v1/cases/?page_size=100, and the next cursor page): queries per
  request and time, next to the bare SQL that page needs, run with psycopg (alone, and with its
  rows turned into JSON).

    make bench        # or: BENCH_RESPONSES=20000 python benchmarks/bench_api.py
"""

import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import env_int, peak_memory_mb, report, timed
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from accounts.roles import ENGINEER
from cases.importing import import_cases
from runs.selection import register_run

ROOT = Path(__file__).resolve().parent.parent
PAGE_REQUESTS = 50
# The rows and columns the API's case page reads, as one statement: the baseline.
PAGE_SQL = """
SELECT c.id, c.input_data, c.input_type, c.input_format, c.ground_truth, c.output_type,
       c.model_type, c.category, c.tags, c.difficulty, c.origin, c.is_verified, c.metadata,
       c.created_at, c.updated_at, u.username
FROM test_cases c LEFT JOIN auth_user u ON u.id = c.created_by_id
WHERE c.origin = 'human' AND c.is_verified
ORDER BY c.id DESC LIMIT 101
"""


def make_cases(n: int) -> None:
    """n golden sentiment cases through the import's COPY path (fast, like a real import)."""
    lines = (
        json.dumps(
            {
                "input_data": {"text": f"review number {i}", "lang": "en"},
                "input_type": "text",
                "ground_truth": {"label": "positive" if i % 3 else "negative"},
                "output_type": "classification",
                "model_type": "bench_api",
                "category": "sentiment",
                "tags": ["en", "bench"],
                "difficulty": "easy",
                "metadata": {"source": "bench"},
            }
        )
        for i in range(n)
    )
    result = import_cases(io.BytesIO("\n".join(lines).encode()), file_format="jsonl")
    assert result.ok, result.errors[:3]


def write_ndjson(case_ids: list[int], path: Path) -> None:
    with path.open("w") as out:
        for i, case_id in enumerate(case_ids):
            line = {
                "test_case_id": case_id,
                "output_data": {"label": "positive" if i % 4 else "negative", "confidence": 0.9},
                "latency_ms": 10 + i % 50,
                "memory_mb": 80.5,
                "tokens_used": 31,
                "error_message": None,
            }
            out.write(json.dumps(line) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "mleval_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "600",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
            return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise RuntimeError("gunicorn exited at start-up") from None
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def new_run(version: str):
    return register_run(
        model_name="bench-api", model_version=version, model_type="bench_api", selection={}
    )


def post_ndjson(client: httpx.Client, run_id: int, body: bytes) -> dict:
    response = client.post(
        f"/api/v1/runs/{run_id}/responses/",
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    response.raise_for_status()
    return response.json()


def ms(samples: list[float]) -> dict:
    return {
        "p50": round(statistics.median(samples) * 1000, 2),
        "mean": round(statistics.fmean(samples) * 1000, 2),
        "min": round(min(samples) * 1000, 2),
    }


def time_requests(client: httpx.Client, url: str) -> list[float]:
    client.get(url).raise_for_status()  # warm: connection, caches
    samples = []
    for _ in range(PAGE_REQUESTS):
        start = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
    return samples


def time_bare_sql(to_json: bool = False) -> list[float]:
    """The page's one statement on a warm connection; with `to_json`, also its rows as JSON."""
    samples = []
    with connection.cursor() as cursor:
        cursor.execute(PAGE_SQL)
        names = [column.name for column in cursor.description]
        cursor.fetchall()
        for _ in range(PAGE_REQUESTS):
            start = time.perf_counter()
            cursor.execute(PAGE_SQL)
            rows = cursor.fetchall()
            if to_json:
                json.dumps([dict(zip(names, row, strict=True)) for row in rows[:100]], default=str)
            samples.append(time.perf_counter() - start)
    assert len(rows) == 101
    return samples


def main() -> None:
    n = env_int("BENCH_RESPONSES", 100_000)
    figures: dict = {"responses": n}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE test_cases, model_runs CASCADE")
    with timed(figures, "setup_cases_s"):
        make_cases(n)
    with connection.cursor() as cursor:
        # Steady state, as autovacuum leaves it shortly after a big import: without statistics
        # the planner reads every golden case to find the newest 100.
        cursor.execute("ANALYZE test_cases")
    user = User.objects.create_user(f"bench-api-{time.time_ns()}")
    user.groups.add(Group.objects.get(name=ENGINEER))
    _, token = ApiToken.objects.issue(user, "bench")

    by_command, by_api = new_run("command"), new_run("api")
    assert by_command.total_cases == by_api.total_cases == n
    case_ids = sorted(by_command.run_cases.values_list("test_case_id", flat=True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "responses.jsonl"
        write_ndjson(case_ids, path)
        body = path.read_bytes()
        figures["ndjson_mb"] = round(len(body) / 1e6, 1)

        port = free_port()
        server = start_server(port)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600
            ) as client:
                quiet = io.StringIO()
                with timed(figures, "import_responses_s"):
                    call_command(
                        "import_responses", by_command.pk, str(path), stdout=quiet, stderr=quiet
                    )
                with timed(figures, "api_ndjson_post_s"):
                    result = post_ndjson(client, by_api.pk, body)
                assert result["imported"] == result["created"] == n, result
                # Replacing: alternate the two twice and keep each one's best time.
                replace: dict[str, list[float]] = {"command": [], "api": []}
                for _ in range(2):
                    start = time.perf_counter()
                    call_command(
                        "import_responses", by_command.pk, str(path), stdout=quiet, stderr=quiet
                    )
                    replace["command"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    result = post_ndjson(client, by_api.pk, body)
                    replace["api"].append(time.perf_counter() - start)
                    assert result["replaced"] == n, result
                figures["import_responses_replace_s"] = round(min(replace["command"]), 3)
                figures["api_ndjson_post_replace_s"] = round(min(replace["api"]), 3)

                first_page = "/api/v1/cases/?page_size=100"
                next_page = client.get(first_page).json()["next"]
                figures["page_http_ms"] = ms(time_requests(client, first_page))
                figures["next_page_http_ms"] = ms(time_requests(client, next_page))
        finally:
            server.terminate()
            server.wait(timeout=30)

    inprocess = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    inprocess.get("/api/v1/cases/?page_size=100")
    with CaptureQueriesContext(connection) as queries:
        response = inprocess.get("/api/v1/cases/?page_size=100")
    assert response.status_code == 200 and len(response.json()["results"]) == 100
    figures["page_queries_per_request"] = len(queries)
    figures["page_queries"] = [query["sql"][:80] for query in queries]
    inprocess_samples = []
    for _ in range(PAGE_REQUESTS):
        start = time.perf_counter()
        inprocess.get("/api/v1/cases/?page_size=100")
        inprocess_samples.append(time.perf_counter() - start)
    figures["page_inprocess_ms"] = ms(inprocess_samples)
    figures["page_bare_sql_ms"] = ms(time_bare_sql())
    figures["page_bare_sql_and_json_ms"] = ms(time_bare_sql(to_json=True))

    figures["api_vs_import_responses"] = round(
        figures["api_ndjson_post_s"] / figures["import_responses_s"], 2
    )
    figures["api_vs_import_responses_replace"] = round(
        figures["api_ndjson_post_replace_s"] / figures["import_responses_replace_s"], 2
    )
    figures["goal_ndjson_within_1_5x"] = figures["api_vs_import_responses"] <= 1.5
    figures["api_responses_per_s"] = round(n / figures["api_ndjson_post_s"])
    figures["page_http_vs_bare_sql"] = round(
        figures["page_http_ms"]["p50"] / figures["page_bare_sql_ms"]["p50"], 1
    )
    figures["peak_memory_mb"] = peak_memory_mb()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE test_cases, model_runs CASCADE")
    report("api", figures)


if __name__ == "__main__":
    main()
