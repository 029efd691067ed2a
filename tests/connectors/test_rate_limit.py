"""`rate_limit` holds across every executor of a run: threads here, worker processes too."""

import itertools
import threading
import time

import pytest
from django.db import connection

from jobs.models import Job
from runs.callers import ExecutionOptions
from runs.endpoint_config import RateLimit
from runs.execution import execute_run
from runs.models import ModelRun, RunRateLimit
from runs.ratelimit import RateLimiter
from runs.selection import register_run
from runs.tasks import enqueue_execution
from tests.baker_recipes import make_cases

pytestmark = pytest.mark.django_db(transaction=True)


def rate_run(url: str, cases: int, rate: str) -> ModelRun:
    make_cases(cases)
    return register_run(
        model_name="m",
        model_version="1",
        model_type="nlp",
        model_endpoint=f"openai:{url}",
        config={"rate_limit": rate},
    )


def job_start(run: ModelRun) -> float:
    """When the run's first execution job started, on this process's monotonic clock (the
    server's): no request slot can precede it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM min(started_at) - clock_timestamp())::float8 "
            "FROM jobs WHERE target_id = %s AND kind = 'execution'",
            [run.pk],
        )
        ago = cursor.fetchone()[0]
    return time.monotonic() + ago


def assert_paced(times: list[float], started: float, interval: float) -> None:
    """The k-th request arrived no earlier than `started + k * interval` (`started`: a time
    before the first slot). Each request waits for its own slot and slots are `interval` apart,
    so the k-th arrival cannot precede the k-th slot. A request delayed by a busy machine only
    arrives later, never earlier, so this holds under load; unlimited, nearly all would be
    early. 10 ms of slack."""
    times = sorted(times)
    early = [k for k, at in enumerate(times) if at < started + k * interval - 0.01]
    assert not early, f"{len(early)} requests early, e.g. #{early[0]}"


def test_slots_are_spaced_by_the_interval_across_limiters():
    run = rate_run("http://127.0.0.1:9/v1", 1, "10/second")
    limiters = [RateLimiter(run.pk, RateLimit(10, 1)) for _ in range(2)]  # two connections
    waits, slots = [], []
    for i in range(10):
        waits.append(limiters[i % 2].reserve())
        slots.append(RunRateLimit.objects.get(run=run).next_at)  # this slot + the interval
    for limiter in limiters:
        limiter.close()
    # Ten slots exactly 0.1 s apart, whichever limiter asked; the last one 0.9 s after the
    # first, less the time the ten reservations took.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert gaps == [0.1] * 9
    assert waits[0] == 0 and 0.7 < waits[-1] <= 0.9
    assert RunRateLimit.objects.filter(run=run).count() == 1
    run.delete()
    assert not RunRateLimit.objects.exists()


def test_two_executors_share_the_runs_rate(openai_server):
    run = rate_run(openai_server.base_url, 150, "50/second")
    options = ExecutionOptions(concurrency=8, timeout=10)
    summaries = []
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: summaries.append(execute_run(run, options)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    run.refresh_from_db()
    assert (run.status, run.completed_cases) == ("completed", 150)
    assert all(summary.called > 0 for summary in summaries)  # both executors made calls
    times = [r.at for r in openai_server.chat_requests()]
    assert len(times) == 150
    assert_paced(times, started, 1 / 50)
    assert elapsed >= 149 / 50 - 0.01


@pytest.mark.worker
def test_two_worker_processes_share_the_runs_rate(openai_server, run_worker):
    run = rate_run(openai_server.base_url, 200, "50/second")
    for _ in range(2):
        enqueue_execution(run, ExecutionOptions(concurrency=8, timeout=10))
    workers = [run_worker() for _ in range(2)]
    deadline = time.monotonic() + 90
    while ModelRun.objects.get(pk=run.pk).status != "completed":
        assert time.monotonic() < deadline, "the run did not complete"
        assert all(w.poll() is None for w in workers), "a worker died"
        time.sleep(0.2)
    times = [r.at for r in openai_server.chat_requests()]
    assert len(times) == 200
    assert_paced(times, job_start(run), 1 / 50)
    deadline = time.monotonic() + 30
    while Job.objects.for_target(run).filter(state="succeeded").count() < 2:
        assert time.monotonic() < deadline, "the jobs did not finish"
        time.sleep(0.2)
    called = [job.result["called"] for job in Job.objects.for_target(run)]
    assert sorted(called)[0] > 0 and sum(called) == 200  # both workers called cases
