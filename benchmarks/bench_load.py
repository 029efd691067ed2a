"""Load: 50 people and scripts on the production stack at once, next to one request at a time.

Seeds BENCH_LOAD_CASES (100,000) golden cases and a run answering every one of them, scored
(100,000 responses and verdicts); starts what `make serve` starts (gunicorn with
BENCH_WEB_WORKERS (4) processes of BENCH_WEB_THREADS (1) threads, and a task worker; DEBUG off,
production settings and static files, plain HTTP on a free localhost port); logs
BENCH_LOAD_USERS (50) viewers in through the login form and gives each an API token. Then:

1. one request at a time: each page BENCH_SEQUENTIAL (20) times (the baseline);
2. under load: locust, headless, BENCH_LOAD_USERS users for BENCH_LOAD_SECONDS (60) browsing
   the case list with filters, case pages, the run report and the API (Bearer token), each
   user waiting 0.5-1.5 s between requests (benchmarks/load_locustfile.py).

Prints p50/p95 per page for both, requests per second and the error count (must be 0: the
script exits 1 otherwise), and checks the structured request log (one JSON line per request).
Only localhost traffic; stops by itself.

    make bench BENCH=benchmarks/bench_load.py      # or: BENCH_LOAD_SECONDS=20 python ...
"""

import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _common import env_int, report, timed
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.models import Max, Min

from accounts.models import ApiToken
from accounts.roles import VIEWER
from runs.models import ModelRun
from runs.selection import register_run

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL_TYPE = "bench_load"
CATEGORIES = [f"category{i}" for i in range(20)]
TAGS = [f"tag{i}" for i in range(30)]
LABELS = ["positive", "negative", "neutral", "mixed"]
URLS_PER_PAGE = 2000
PASSWORD = "bench-load-" + secrets.token_hex(8)


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def seed(n: int) -> ModelRun:
    """n golden cases (SQL), a run over them (register_run), its responses and verdicts (SQL)."""
    execute("TRUNCATE test_cases, model_runs CASCADE")
    execute(
        """
        INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, output_type,
            model_type, category, tags, difficulty, origin, is_verified, metadata)
        SELECT jsonb_build_object('text', 'review number ' || i || ' of a product', 'lang', 'en'),
            'text', '', jsonb_build_object('label', (%(labels)s::text[])[1 + i %% 4]),
            'classification', %(model_type)s, (%(categories)s::text[])[1 + i %% 20],
            ARRAY[(%(tags)s::text[])[1 + i %% 30], (%(tags)s::text[])[1 + (i / 30) %% 30]],
            (ARRAY['easy', 'medium', 'hard'])[1 + i %% 3], 'human', true,
            jsonb_build_object('source', 'bench', 'batch', i / 1000)
        FROM generate_series(1, %(n)s) i
        """,
        {"n": n, "labels": LABELS, "model_type": MODEL_TYPE, "categories": CATEGORIES,
         "tags": TAGS},
    )  # fmt: skip
    execute("ANALYZE test_cases")
    run = register_run(
        model_name="bench-load", model_version="1.0", model_type=MODEL_TYPE, selection={}
    )
    execute(
        """
        INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, tokens_used,
                               memory_mb, error_message)
        SELECT %(run)s, c.id,
            jsonb_build_object('label', CASE WHEN random() < 0.8 THEN c.ground_truth->>'label'
                                        ELSE (%(labels)s::text[])[1 + (random() * 3)::int] END),
            (5 + random() * random() * 400)::int, (20 + random() * 80)::int, 50 + random() * 30, ''
        FROM run_cases rc JOIN test_cases c ON c.id = rc.test_case_id WHERE rc.run_id = %(run)s
        """,
        {"run": run.pk, "labels": LABELS},
    )
    execute(
        """
        INSERT INTO evaluations (response_id, evaluator_type, score, passed, metrics, feedback)
        SELECT r.id, 'label_match', ok::int, ok,
            jsonb_build_object('predicted', r.output_data->>'label',
                'actual', c.ground_truth->>'label', 'evaluator_version', '1',
                'params', '{"ignore_case": false}'::jsonb), ''
        FROM responses r JOIN test_cases c ON c.id = r.test_case_id,
             LATERAL (SELECT r.output_data->>'label' = c.ground_truth->>'label' AS ok) v
        WHERE r.run_id = %(run)s
        """,
        {"run": run.pk},
    )
    ModelRun.objects.filter(pk=run.pk).recount()
    ModelRun.objects.filter(pk=run.pk).update(status="completed")
    execute("ANALYZE")
    run.refresh_from_db()
    assert run.completed_cases == n, (run.completed_cases, n)
    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env() -> dict:
    """`make serve`'s environment: the real settings, DEBUG off, plain HTTP on localhost."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mleval_site.settings",
        "MLEVAL_TESTING": "false",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MLEVAL_HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MLEVAL_API_THROTTLE_RATE": "off",  # 50 users share one machine's address and budget
    }


def start_stack(port: int, workers: int, threads: int, log_path: Path) -> list[subprocess.Popen]:
    """gunicorn (several processes) and a task worker, as `make serve` runs them."""
    env = production_env()
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    log = log_path.open("w")
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "mleval_site.wsgi", "--workers", str(workers), "--threads",
         str(threads), "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "*"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
            return [web, worker]
        except httpx.HTTPError:
            if web.poll() is not None:
                break
            time.sleep(0.3)
    stop([web, worker])
    raise RuntimeError("gunicorn did not answer /healthz")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def make_users(n: int) -> list[tuple[User, str]]:
    """n viewers (one password hash for all: hashing is not what is measured) with API tokens."""
    User.objects.filter(username__startswith="bench-load-").delete()
    # The production server's hasher (the test settings this process runs with use MD5).
    hasher = PBKDF2PasswordHasher()
    hashed = hasher.encode(PASSWORD, hasher.salt())
    users = User.objects.bulk_create(
        User(username=f"bench-load-{i}", password=hashed) for i in range(n)
    )
    Group.objects.get(name=VIEWER).user_set.add(*users)
    return [(user, ApiToken.objects.issue(user, "bench load")[1]) for user in users]


def log_in(base: str, username: str) -> str:
    """The login form, as a browser sends it: returns the session cookie."""
    with httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 302 and response.headers["location"] == "/", response
        return client.cookies["sessionid"]


def page_urls(run: ModelRun, first: int, last: int, rng: random.Random) -> dict[str, list[str]]:
    """The pages both phases request, by name (as the locustfile names them)."""

    def filters() -> str:
        query = {"category": rng.choice(CATEGORIES)}
        if rng.random() < 0.5:
            query["difficulty"] = rng.choice(["easy", "medium", "hard"])
        if rng.random() < 0.5:
            query["tags"] = rng.choice(TAGS)
        return "&".join(f"{key}={value}" for key, value in query.items())

    return {
        "case list (filters)": [f"/cases/?{filters()}" for _ in range(URLS_PER_PAGE)],
        "case detail": [f"/cases/{rng.randint(first, last)}/" for _ in range(URLS_PER_PAGE)],
        "run report": [f"/runs/{run.pk}/report/"],
        "API cases (filters)": [
            f"/api/v1/cases/?{filters()}&page_size=100" for _ in range(URLS_PER_PAGE)
        ],
    }


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=20, method="inclusive") if len(ordered) > 1 else ordered
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(cut[-1] * 1000, 1),
    }


def sequential(base: str, session: str, token: str, urls: dict, repeats: int) -> dict:
    """Each page `repeats` times, one request at a time, on a warm server."""
    timings: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, cookies={"sessionid": session}, timeout=120) as client:
        for name, paths in urls.items():
            client.get(paths[0], headers=headers).raise_for_status()  # warm this page's code
            for i in range(repeats):
                start = time.perf_counter()
                response = client.get(paths[i % len(paths)], headers=headers)
                timings.setdefault(name, []).append(time.perf_counter() - start)
                assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
    return timings


def main() -> None:
    n = env_int("BENCH_LOAD_CASES", 100_000)
    users_n = env_int("BENCH_LOAD_USERS", 50)
    seconds = env_int("BENCH_LOAD_SECONDS", 60)
    workers = env_int("BENCH_WEB_WORKERS", 4)
    # make serve's sync workers. gthread workers (BENCH_WEB_THREADS=4) let light pages pass a
    # running report, but on 2 saturated CPUs gunicorn then killed busy workers (resets).
    threads = env_int("BENCH_WEB_THREADS", 1)
    repeats = env_int("BENCH_SEQUENTIAL", 20)
    figures: dict = {"cases": n, "responses": n, "users": users_n, "seconds": seconds,
                     "web_workers": workers, "web_threads": threads,
                     "cpus": os.cpu_count()}  # fmt: skip
    with timed(figures, "seed_s"):
        run = seed(n)
        accounts = make_users(users_n)
    bounds = run.run_cases.aggregate(first=Min("test_case_id"), last=Max("test_case_id"))
    urls = page_urls(run, bounds["first"], bounds["last"], random.Random(7))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log_path = tmp / "gunicorn.log"
        processes = start_stack(port, workers, threads, log_path)
        try:
            with timed(figures, "log_in_s"), ThreadPoolExecutor(workers) as pool:
                sessions = list(pool.map(lambda a: log_in(base, a[0].username), accounts))
            alone = sequential(base, sessions[0], accounts[0][1], urls, repeats)
            plan = tmp / "plan.json"
            plan.write_text(json.dumps({"urls": urls, "users": [
                {"session": s, "token": t} for s, (_, t) in zip(sessions, accounts, strict=True)
            ]}))  # fmt: skip
            samples_path = tmp / "samples.json"
            env = {**os.environ, "BENCH_LOAD_PLAN": str(plan),
                   "BENCH_LOAD_SAMPLES": str(samples_path)}  # fmt: skip
            requests_before = log_lines(log_path)
            locust = subprocess.run(
                [str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "load_locustfile.py"),
                 "--headless", "-u", str(users_n), "-r", str(users_n), "-t", f"{seconds}s",
                 "--host", base, "--only-summary", "--stop-timeout", "15",
                 "--loglevel", "WARNING"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120,
            )  # fmt: skip
            time.sleep(1)  # the last log lines
            logged = log_lines(log_path)[len(requests_before) :]
        finally:
            stop(processes)
        result = json.loads(samples_path.read_text())
    loaded = result["samples"]
    total = sum(len(v) for v in loaded.values())
    figures["pages"] = {
        name: {"one_at_a_time": percentiles(alone[name]), "under_load": percentiles(loaded[name])}
        for name in urls
    }
    figures["requests_under_load"] = total
    figures["requests_per_s"] = round(total / seconds, 1)
    figures["errors"] = len(result["failures"])
    figures["error_examples"] = result["failures"][:5]
    figures["request_log"] = {
        "json_lines": len(logged),
        "max_queries": max((line["queries"] for line in logged), default=None),
        "example": logged[0] if logged else None,
    }
    if locust.returncode not in (0, 1):  # 1: locust saw failures, counted above
        figures["locust_stderr"] = locust.stderr[-2000:]
    report("load", figures)
    if figures["errors"] or locust.returncode not in (0, 1) or not total:
        sys.exit(1)


def log_lines(path: Path) -> list[dict]:
    """The structured request log lines gunicorn's processes wrote (one per request)."""
    lines = []
    for text in path.read_text().splitlines():
        if text.startswith("{") and '"event": "request"' in text:
            lines.append(json.loads(text))
    return lines


if __name__ == "__main__":
    main()
