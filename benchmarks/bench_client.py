"""run_experiment end to end, against mleval's own execute_run + evaluate_run on the same rows.

BENCH_CASES golden classification cases (default 10,000) and a trivial task (a constant
label). The client side: `run_experiment` through a real server (gunicorn, 2 workers) and the
real task worker (`db_worker`): list the cases over HTTP, call the task in-process at
concurrency 8, push the outputs as NDJSON, score with the default evaluator (the worker),
wait for the fresh report. The server side: a `python:` run of the same function,
`execute_run` (concurrency 8) then `evaluate_run`, in this process. Goal: the client's rate
>= 0.5 of the server side's, all HTTP included. Best of BENCH_REPEAT (default 2) rounds.

    make bench     # or: BENCH_CASES=2000 python benchmarks/bench_client.py
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

# The python: endpoint below lives in this module; allow it before Django reads the settings.
os.environ.setdefault("MLEVAL_PYTHON_ENDPOINT_MODULES", "runs.demo_models,bench_client")

import httpx  # noqa: E402
from _common import env_int, peak_memory_mb, report, timed  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import ApiToken  # noqa: E402
from cases.models import TestCase  # noqa: E402
from evaluations.pipeline import evaluate_run  # noqa: E402
from runs.callers import ExecutionOptions  # noqa: E402
from runs.execution import execute_run  # noqa: E402
from runs.models import ModelRun  # noqa: E402
from runs.selection import register_run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client"))
from mleval_client import Client, run_experiment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL_TYPE = "bench-client"
CONCURRENCY = 8
GOAL = 0.5


def constant_label(input_data: dict, config: dict) -> dict:
    """The trivial model both sides call."""
    return {"label": "positive"}


def make_cases(n: int) -> None:
    ModelRun.objects.filter(model_type=MODEL_TYPE).delete()
    TestCase.objects.filter(model_type=MODEL_TYPE).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, "
            "output_type, model_type, category) SELECT jsonb_build_object('text', 'review ' || g),"
            " 'text', '', '{\"label\": \"positive\"}', 'classification', %s, 'bench' "
            "FROM generate_series(1, %s) AS g",
            [MODEL_TYPE, n],
        )
        cursor.execute("VACUUM ANALYZE test_cases")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server() -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, "MLEVAL_API_THROTTLE_RATE": "off", "PYTHONPATH": str(ROOT)}
    manage = [sys.executable, "manage.py"]
    procs = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "mleval_site.wsgi",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        ),  # fmt: skip
        subprocess.Popen(
            [
                *manage,
                "db_worker",
                "--queue-name",
                "*",
                "--interval",
                "0.1",
                "--no-startup-delay",
                "--no-reload",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),  # fmt: skip
    ]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code < 500:
                return url, procs
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start within a minute")
        time.sleep(0.2)


def main() -> None:
    n = env_int("BENCH_CASES", 10_000)
    make_cases(n)
    user = User.objects.filter(username="bench-client").first() or User.objects.create_superuser(
        "bench-client", "bench@example.com", None
    )
    _, token = ApiToken.objects.issue(user, "bench")
    url, procs = start_server()
    best: dict[str, float] = {}
    try:
        for attempt in range(env_int("BENCH_REPEAT", 2)):
            times: dict = {}
            run = register_run(
                model_name="bench-server",
                model_version=str(attempt + 1),
                model_type=MODEL_TYPE,
                model_endpoint="python:bench_client:constant_label",
                config={"selection": {"model_type": MODEL_TYPE}},
            )
            with timed(times, "execute_run_seconds"):
                summary = execute_run(run, ExecutionOptions(concurrency=CONCURRENCY))
            assert summary.completed_cases == n, summary
            with timed(times, "evaluate_run_seconds"):
                evaluate_run(run)
            times["server_side_seconds"] = round(
                times["execute_run_seconds"] + times["evaluate_run_seconds"], 3
            )
            with Client(url, token, timeout=300) as client, timed(times, "run_experiment_seconds"):
                result = run_experiment(
                    {"model_type": MODEL_TYPE},
                    lambda case: constant_label(case["input_data"], {}),
                    concurrency=CONCURRENCY,
                    client=client,
                    model_name="bench-client",
                    model_version=str(attempt + 1),
                    progress=False,
                )
            assert sum(e["count"] for e in result["evaluators"].values()) == n, result
            for key, seconds in times.items():
                best[key] = min(seconds, best.get(key, seconds))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    client_rate = n / best["run_experiment_seconds"]
    server_rate = n / best["server_side_seconds"]
    report(
        "client_run_experiment",
        {
            "cases": n,
            "concurrency": CONCURRENCY,
            **best,
            "run_experiment_cases_per_s": round(client_rate),
            "execute_and_evaluate_cases_per_s": round(server_rate),
            "ratio": round(client_rate / server_rate, 3),
            "goal": GOAL,
            "goal_met": client_rate / server_rate >= GOAL,
            "peak_memory_mb": peak_memory_mb(),
        },
    )


if __name__ == "__main__":
    main()
