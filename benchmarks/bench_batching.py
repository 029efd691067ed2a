"""Batching: BENCH_BATCH_CASES cases (default 10,000) against a real MLflow scoring server.

A scikit-learn logistic regression is trained and saved as an MLflow model, then served by
`mlflow models serve --env-manager local` in its own process. The same run is executed twice
with the `mlflow:` endpoint kind: batched (`batch_size` 256) and one call per case
(`batch_size` 1), both at the executor's default concurrency (8). Goal: batched >= 10x faster.

    make bench        # or: BENCH=benchmarks/bench_batching.py make bench
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import env_int, peak_memory_mb, report, timed
from django.db import connection

from runs.callers import ExecutionOptions
from runs.execution import execute_run
from runs.models import ModelRun
from runs.selection import register_run

GOAL = 10.0
BATCH = 256
MODEL_TYPE = "bench-batch"


def save_model(folder: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(1000, 4)), columns=["x1", "x2", "x3", "x4"])
    labels = (features.sum(axis=1) > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    path = folder / "model"
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
    )
    return path


def serve(path: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(path), "-p", str(port)]
        + ["-h", "127.0.0.1", "--env-manager", "local"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("mlflow models serve did not start")
        time.sleep(0.3)


def make_cases(n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, "
            "output_type, model_type, category) SELECT jsonb_build_object('row', "
            "jsonb_build_object('x1', sin(g), 'x2', cos(g), 'x3', sin(2 * g), "
            "'x4', mod(g, 3) - 1)), "
            "'tabular', '', jsonb_build_object('label', mod(g, 2)::text), 'classification', %s, "
            "'bench' FROM generate_series(1, %s) AS g",
            [MODEL_TYPE, n],
        )
        cursor.execute("VACUUM ANALYZE test_cases")


def execute(url: str, batch_size: int, version: str) -> ModelRun:
    run = register_run(
        model_name="bench-mlflow",
        model_version=version,
        model_type=MODEL_TYPE,
        model_endpoint=f"mlflow:{url}",
        config={"features": "row", "batch_size": batch_size},
    )
    summary = execute_run(run, ExecutionOptions(timeout=60, retries=0))
    assert summary.completed_cases == summary.total_cases, summary
    return run


def main() -> None:
    n = env_int("BENCH_BATCH_CASES", 10_000)
    figures: dict = {"cases": n, "batch_size": BATCH, "concurrency": ExecutionOptions().concurrency}
    with tempfile.TemporaryDirectory() as folder:
        with timed(figures, "train_and_save_seconds"):
            path = save_model(Path(folder))
        with timed(figures, "server_start_seconds"):
            server, url = serve(path)
        try:
            make_cases(n)
            execute(url, BATCH, "warm-up")  # imports and first calls on both ends
            with timed(figures, "batched_seconds"):
                execute(url, BATCH, "batched")
            with timed(figures, "one_call_per_case_seconds"):
                execute(url, 1, "unbatched")
        finally:
            server.terminate()
            server.wait(timeout=30)
            runs = list(ModelRun.objects.filter(model_type=MODEL_TYPE).values_list("pk", flat=True))
            if runs:  # (an empty pk__in makes the cascading delete raise EmptyResultSet)
                ModelRun.objects.filter(pk__in=runs).delete()
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM test_cases WHERE model_type = %s", [MODEL_TYPE])
    speedup = figures["one_call_per_case_seconds"] / figures["batched_seconds"]
    figures.update(
        batched_cases_per_s=round(n / figures["batched_seconds"]),
        one_call_per_case_cases_per_s=round(n / figures["one_call_per_case_seconds"]),
        speedup=round(speedup, 1),
        goal=GOAL,
        goal_met=speedup >= GOAL,
        peak_memory_mb=peak_memory_mb(),
    )
    report("batching", figures)


if __name__ == "__main__":
    main()
