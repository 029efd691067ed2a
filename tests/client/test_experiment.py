"""run_experiment against a live server and the real worker: sync and async tasks, a task's
exception recorded as a failed call, a version, and a script killed midway then resumed."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from mleval_client import run_experiment

from accounts.models import ApiToken
from runs.models import ModelRun, Response
from tests.client.conftest import LABELS, case_rows
from versions.freezing import freeze

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[2]


def label_of(case: dict) -> dict:
    """A model right on every case but those whose text ends in 0."""
    right = case["ground_truth"]["label"]
    wrong = LABELS[1 - LABELS.index(right)]
    return {"label": wrong if case["input_data"]["text"].endswith("0") else right}


def test_sync_task_scored_and_reported(connect, admin_user, run_worker):
    client = connect(admin_user)
    client.cases.create(case_rows(120, "exp"))
    run_worker()
    threads = set()

    def model(case: dict) -> dict:
        threads.add(threading.get_ident())
        time.sleep(0.002)
        return label_of(case)

    report = run_experiment(
        {"category": "exp"}, model, ["label_match"], concurrency=4, client=client, push_every=25
    )
    assert report["run"]["model_name"] == "model" and report["run"]["total_cases"] == 120
    assert report["evaluators"]["label_match"]["pass_rate"] == pytest.approx(108 / 120)
    assert 1 < len(threads) <= 4
    latencies = Response.objects.filter(run_id=report["run"]["id"]).values_list(
        "latency_ms", flat=True
    )
    assert len(latencies) == 120 and min(latencies) >= 2.0


def test_async_task_and_a_failing_case(connect, admin_user, run_worker):
    client = connect(admin_user)
    client.cases.create(case_rows(20, "async", prefix="a"))
    run_worker()
    in_flight, most = 0, 0

    async def model(case: dict) -> dict:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if case["external_id"] == "a-7":
            raise RuntimeError("model crashed")
        return label_of(case)

    report = run_experiment({"category": "async"}, model, concurrency=5, client=client)
    assert most == 5
    run = ModelRun.objects.get(pk=report["run"]["id"])
    assert (run.completed_cases, run.failed_cases) == (19, 1)
    failed = Response.objects.get(run=run, test_case__external_id="a-7")
    assert failed.error_message == "RuntimeError: model crashed" and failed.output_data is None


def test_on_a_version(connect, admin_user, run_worker):
    client = connect(admin_user)
    client.cases.create(case_rows(10, "ver", prefix="v"))
    freeze("exp-v1", selection={"category": "ver"})
    run_worker()
    report = run_experiment("exp-v1", label_of, ["label_match"], client=client)
    assert report["run"]["version"]["name"] == "exp-v1"
    assert report["evaluators"]["label_match"]["pass_rate"] == pytest.approx(0.9)


SCRIPT = textwrap.dedent(
    """
    import time
    from mleval_client import run_experiment

    def slow(case):
        time.sleep(0.02)
        return {"label": case["ground_truth"]["label"]}

    run_experiment({"category": "killed"}, slow, concurrency=2, model_name="killed",
                   push_every=10)
    """
)


def test_killed_midway_then_resumed(connect, admin_user, run_worker, live_server):
    client = connect(admin_user)
    client.cases.create(case_rows(200, "killed", prefix="k"))
    _, raw = ApiToken.objects.issue(admin_user, "script")
    env = {
        **os.environ,
        "MLEVAL_URL": live_server.url,
        "MLEVAL_TOKEN": raw,
        "PYTHONPATH": str(ROOT / "client"),
    }
    script = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while Response.objects.filter(run__model_name="killed").count() < 40:
            assert script.poll() is None, "the script ended before it was killed"
            assert time.monotonic() < deadline, "no responses pushed within a minute"
            time.sleep(0.05)
        script.send_signal(signal.SIGKILL)
    finally:
        script.kill()
        script.wait(timeout=10)
    run = ModelRun.objects.get(model_name="killed")
    answered = set(Response.objects.filter(run=run).values_list("test_case_id", flat=True))
    assert 40 <= len(answered) < 200

    run_worker()
    called = []

    def resumed(case: dict) -> dict:
        called.append(case["id"])
        return {"label": case["ground_truth"]["label"]}

    report = run_experiment(None, resumed, ["label_match"], client=client, run=run.pk)
    assert len(called) == len(set(called)) == 200 - len(answered)
    assert not answered & set(called)
    assert Response.objects.filter(run=run).count() == 200
    assert report["run"]["status"] == "completed"
    assert report["evaluators"]["label_match"]["pass_rate"] == 1.0
