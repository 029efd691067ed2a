"""Judging in the real worker (`manage.py db_worker`): live progress, and a worker killed
mid-chunk whose successor asks the judge nothing it had already answered."""

import json
import signal
import time

import pytest
from django_tasks_db.models import DBTaskResult

from evaluations.judging.judges import Judge
from evaluations.models import Evaluation, JudgeCall
from evaluations.reports.run_report import build_run_report
from evaluations.tasks import enqueue_evaluation
from tests.judging.conftest import judge_spec, make_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
WATCHDOG = {"MLEVAL_RUN_WATCHDOG_SECONDS": "1"}


def wait_for(condition, timeout: float = 90, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_is_resumed_without_asking_the_judge_again(judge_server, run_worker):
    judge_server.delay = 0.05
    run = make_run([f"right answer {i}" for i in range(120)])
    spec = json.loads(judge_spec(judge_server, concurrency=4).removeprefix("llm_judge:"))
    job = enqueue_evaluation(run, [{"name": "llm_judge", "params": spec}], chunk_size=1000)
    worker = run_worker(env=WATCHDOG)
    wait_for(lambda: JudgeCall.objects.count() >= 20, what="the first replies to be cached")
    job.refresh_from_db()
    assert job.counters.get("judge_calls", 0) >= 20  # the live progress
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    cached_at_kill = set(JudgeCall.objects.values_list("key", flat=True))
    asked_at_kill = len(judge_server.chat_requests())
    assert len(cached_at_kill) < 120 and not Evaluation.objects.exists()

    run_worker(env=WATCHDOG)  # the watchdog finds the chunk's worker gone and re-queues it
    wait_for(lambda: (job.refresh_from_db(), job.is_finished)[1], what="the job to finish")
    assert job.state == "succeeded", job.error
    assert Evaluation.objects.filter(evaluator_type="llm_judge").count() == 120
    assert set(Evaluation.objects.values_list("score", flat=True)) == {1.0}

    judge = Judge(base_url=judge_server.base_url, model="judge-1")
    asked = [judge.key(request.json(), 0) for request in judge_server.chat_requests()]
    after_kill = asked[asked_at_kill:]
    assert not cached_at_kill & set(after_kill)  # nothing answered before was asked again
    assert set(asked) == set(JudgeCall.objects.values_list("key", flat=True))
    assert len(asked) - 120 <= asked_at_kill - len(cached_at_kill)  # only the unsaved ones
    lost = DBTaskResult.objects.filter(exception_class_path="evaluations.tasks.WorkerLost")
    assert lost.count() == 1 and "scored again in task" in lost.get().traceback
    assert job.counters["evaluations_written"] == 120
    # The report says what the resumed chunk read from the cache: the replies saved before.
    judging = build_run_report(run)["judging"]
    assert (judging["cached"], judging["asked"]) == (len(cached_at_kill), 120 - len(cached_at_kill))
