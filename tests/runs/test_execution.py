"""Executing a run against real endpoints: a local HTTP model server and in-process functions."""

import threading
import time

import pytest
from django.db import connection

from runs import callers
from runs.callers import ExecutionError, ExecutionOptions
from runs.execution import execute_run, forget_failures
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response, RunCase
from runs.selection import register_run
from tests.baker_recipes import make_case
from tests.runs.conftest import execute_concurrently

FAST = ExecutionOptions(concurrency=4, timeout=5, retries=2, backoff=0.05)


def http_run(url: str, **config):
    return register_run(
        model_name="remote", model_version="1", model_type="nlp", model_endpoint=url, config=config
    )


def responses(run) -> dict[int, Response]:
    return {r.test_case_id: r for r in Response.objects.filter(run=run)}


def assert_counts_match(run) -> None:
    run.refresh_from_db()
    stored = Response.objects.filter(run=run)
    assert run.completed_cases == stored.filter(error_message="").count()
    assert run.failed_cases == stored.exclude(error_message="").count()


class TestInProcess:
    def test_every_case_is_answered_and_a_second_call_resumes(self, run, golden):
        summary = execute_run(run, FAST)
        assert (summary.status, summary.completed_cases, summary.called) == ("completed", 8, 8)
        run.refresh_from_db()
        assert run.started_at and run.completed_at and run.completed_at >= run.started_at
        answer = Response.objects.filter(run=run).first()
        assert answer.output_data["label"] == "positive" and answer.latency_ms >= 0
        again = execute_run(run, FAST)
        assert again.called == 0 and again.status == "completed"
        assert Response.objects.filter(run=run).count() == 8

    def test_only_cases_without_a_response_are_called(self, run, golden):
        ingest_responses(
            run, [{"test_case_id": c.pk, "output_data": {"label": "x"}} for c in golden[:5]]
        )
        summary = execute_run(run, FAST)
        assert summary.called == 3
        assert responses(run)[golden[0].pk].output_data == {"label": "x"}  # kept as it was
        assert_counts_match(run)

    def test_a_model_error_is_recorded_on_its_case(self, golden):
        broken = make_case(input_data={"no_text": True})
        run = register_run(
            model_name="m",
            model_version="1",
            model_type="nlp",
            model_endpoint="python:runs.demo_models:sentiment_classifier",
        )
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (8, 1)
        failed = responses(run)[broken.pk]
        assert failed.output_data == {} and failed.error_message == "KeyError: 'text'"
        assert_counts_match(run)

    def test_latencies_keep_fractions_of_a_millisecond(self, golden):
        """Whole milliseconds said 0 ms for every answer of a sub-millisecond model; the
        executor keeps microseconds now."""
        run = register_run(
            model_name="m",
            model_version="1",
            model_type="nlp",
            model_endpoint="python:runs.demo_models:sentiment_classifier",
        )
        execute_run(run, FAST)
        latencies = [answer.latency_ms for answer in responses(run).values()]
        assert all(isinstance(value, float) and value >= 0 for value in latencies)
        assert any(value != round(value) for value in latencies), latencies

    def test_a_run_whose_every_case_fails_is_failed(self, db):
        make_case(input_data={"no_text": True})
        run = register_run(
            model_name="m",
            model_version="1",
            model_type="nlp",
            model_endpoint="python:runs.demo_models:sentiment_classifier",
        )
        assert execute_run(run, FAST).status == "failed"

    def test_retry_failed_calls_failed_cases_again(self, run, golden):
        ingest_responses(
            run, [{"test_case_id": golden[0].pk, "output_data": {}, "error_message": "x"}]
        )
        execute_run(run, FAST)
        assert forget_failures(run) == 1
        assert (run.completed_cases, run.failed_cases) == (7, 0)
        execute_run(run, FAST)
        assert_counts_match(run)
        assert run.completed_cases == 8

    @pytest.mark.parametrize(
        ("endpoint", "message"),
        [
            ("", "no endpoint"),
            ("python:os:getcwd", "may only use the modules"),
            ("python:runs.demo_models:no_such_model", "has no function"),
        ],
    )
    def test_a_run_that_cannot_execute_is_refused_and_left_alone(self, run, endpoint, message):
        ModelRun.objects.filter(pk=run.pk).update(model_endpoint=endpoint)
        run.refresh_from_db()
        with pytest.raises(ExecutionError, match=message):
            execute_run(run, FAST)
        run.refresh_from_db()
        assert run.status == "pending" and not Response.objects.exists()

    def test_dead_claims_are_free_again(self, run, golden):
        RunCase.objects.filter(run=run).update(claimed_by=2_000_000_000)  # no such live executor
        assert execute_run(run, FAST).called == 8


class TestHttp:
    def test_protocol_payload_meta_and_latency(self, golden, model_server):
        model_server.behaviour = lambda case_id, attempt: (
            200,
            {"label": "positive", "_meta": {"tokens_used": 12, "memory_mb": 50.5}},
            0.05,
        )
        run = http_run(model_server.url, temperature=0)
        summary = execute_run(run, FAST)
        assert summary.completed_cases == 8
        payload = next(p for p in model_server.payloads if p["test_case_id"] == golden[0].pk)
        assert payload == {
            "test_case_id": golden[0].pk,
            "input_data": golden[0].input_data,
            "input_type": "text",
            "config": run.config,
        }
        answer = responses(run)[golden[0].pk]
        assert answer.output_data == {"label": "positive"}  # _meta lifted out
        assert (answer.tokens_used, answer.memory_mb) == (12, 50.5)
        assert 50 <= answer.latency_ms < 2000

    def test_500_twice_then_200_is_retried_and_succeeds(self, golden, model_server):
        flaky = golden[0].pk
        model_server.behaviour = lambda case_id, attempt: (
            (500, {"error": "overloaded"}, 0)
            if case_id == flaky and attempt <= 2
            else (200, {"label": "positive"}, 0)
        )
        run = http_run(model_server.url)
        assert execute_run(run, FAST).completed_cases == 8
        assert len(model_server.calls[flaky]) == 3
        assert responses(run)[flaky].error_message == ""

    def test_429_is_retried(self, golden, model_server):
        model_server.behaviour = lambda case_id, attempt: (
            (429, "slow down", 0) if attempt == 1 else (200, {"label": "positive"}, 0)
        )
        run = http_run(model_server.url)
        assert execute_run(run, FAST).completed_cases == 8
        assert model_server.total_calls == 16

    def test_a_timeout_is_retried_then_recorded_failed(self, golden, model_server):
        slow = golden[0].pk
        model_server.behaviour = lambda case_id, attempt: (
            200,
            {"label": "positive"},
            1.0 if case_id == slow else 0,
        )
        run = http_run(model_server.url)
        options = ExecutionOptions(concurrency=4, timeout=0.2, retries=2, backoff=0.05)
        summary = execute_run(run, options)
        assert (summary.completed_cases, summary.failed_cases) == (7, 1)
        assert len(model_server.calls[slow]) == 3
        failed = responses(run)[slow]
        assert failed.error_message == "timed out after 0.2s (after 3 attempts)"
        assert failed.output_data == {}
        assert_counts_match(run)

    def test_a_400_is_not_retried(self, golden, model_server):
        bad = golden[0].pk
        model_server.behaviour = lambda case_id, attempt: (
            (400, {"detail": "input too long"}, 0) if case_id == bad else (200, {"label": "a"}, 0)
        )
        run = http_run(model_server.url)
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (7, 1)
        assert len(model_server.calls[bad]) == 1
        assert responses(run)[bad].error_message == 'HTTP 400: {"detail": "input too long"}'

    def test_a_non_json_reply_is_recorded_failed(self, golden, model_server):
        model_server.behaviour = lambda case_id, attempt: (200, "<html>Oops</html>", 0)
        run = http_run(model_server.url)
        summary = execute_run(run, FAST)
        assert summary.failed_cases == 8 and summary.status == "failed"
        assert model_server.total_calls == 8  # a bad reply is not retried
        message = responses(run)[golden[0].pk].error_message
        assert message == "the endpoint replied with a non-JSON body: <html>Oops</html>"

    def test_a_reply_postgres_cannot_store_is_recorded_failed(self, golden, model_server):
        model_server.behaviour = lambda case_id, attempt: (200, '{"text": "a\\u0000b"}', 0)
        run = http_run(model_server.url)
        assert execute_run(run, FAST).failed_cases == 8
        assert "\\u0000" in responses(run)[golden[0].pk].error_message

    def test_an_unreachable_endpoint_is_retried_then_recorded_failed(self, golden, model_server):
        url = model_server.url
        model_server.server.stop()
        run = http_run(url)
        summary = execute_run(
            run, ExecutionOptions(concurrency=2, timeout=1, retries=1, backoff=0.01)
        )
        assert summary.failed_cases == 8
        assert responses(run)[golden[0].pk].error_message.startswith(
            "connection failed: ConnectError"
        )


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_cancel_stops_a_running_run_within_seconds_and_keeps_what_was_done(
        self, golden, model_server
    ):
        for _ in range(32):
            make_case()
        model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.3)
        run = http_run(model_server.url)

        def cancel_soon():
            while not Response.objects.filter(run=run).exists():
                time.sleep(0.05)
            ModelRun.objects.get(pk=run.pk).cancel()
            self.cancelled_at = time.monotonic()
            connection.close()

        canceller = threading.Thread(target=cancel_soon)
        canceller.start()
        summary = execute_run(run, ExecutionOptions(concurrency=2, timeout=5))
        returned_at = time.monotonic()
        canceller.join()
        assert summary.status == "cancelled"
        assert returned_at - self.cancelled_at < 2.0
        run.refresh_from_db()
        assert 0 < run.completed_cases < run.total_cases == 40
        assert run.completed_at is not None
        assert_counts_match(run)
        calls_after_cancel, done = model_server.total_calls, run.completed_cases
        resumed = execute_run(run, ExecutionOptions(concurrency=8, timeout=5))
        assert resumed.status == "completed" and resumed.completed_cases == 40
        assert model_server.total_calls == calls_after_cancel + (40 - done)

    def test_deleting_a_running_run_stops_its_executor_first(
        self, golden, model_server, login, engineer
    ):
        for _ in range(32):
            make_case()
        model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.2)
        run = http_run(model_server.url)
        pages = []

        def delete_soon():
            while not Response.objects.filter(run=run).exists():
                time.sleep(0.05)
            pages.append(login(engineer).post(f"/runs/{run.pk}/delete/"))
            connection.close()

        deleter = threading.Thread(target=delete_soon)
        deleter.start()
        summary = execute_run(run, ExecutionOptions(concurrency=2, timeout=5))
        deleter.join()
        assert summary.status in ("cancelled", "deleted")
        assert pages[0].status_code == 302 and pages[0]["Location"] == "/runs/"
        assert not ModelRun.objects.exists() and not Response.objects.exists()
        assert not RunCase.objects.exists()

    def test_two_executors_on_one_run_call_each_case_once(self, golden, model_server):
        for _ in range(72):
            make_case()
        model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0.01)
        run = http_run(model_server.url)
        summaries = execute_concurrently(run, FAST)
        assert sorted(len(times) for times in model_server.calls.values()) == [1] * 80
        assert sum(s.called for s in summaries) == 80
        run.refresh_from_db()
        assert (run.status, run.completed_cases, run.failed_cases) == ("completed", 80, 0)


def test_a_new_endpoint_kind_is_one_caller_class_registered_by_prefix(golden):
    """The executor knows only the Caller interface: a class registered for a prefix answers
    (the longest matching prefix wins over https://), with batches handed over as lists."""
    batches: list[int] = []

    @callers.register("https://echo.invalid/")
    class EchoCaller(callers.Caller):
        def submit(self, cases: list[callers.Claimed]) -> None:
            batches.append(len(cases))
            for case in cases:
                self.results.put(callers.Outcome(case.test_case_id, case.input_json, 1))

    try:
        run = http_run("https://echo.invalid/v1")
        assert callers.caller_class(run.model_endpoint) is EchoCaller
        summary = execute_run(run, FAST)
    finally:
        del callers.CALLERS["https://echo.invalid/"]
    assert (summary.status, summary.called) == ("completed", len(golden))
    assert sum(batches) == len(golden) and max(batches) > 1
    assert {r.test_case_id: r.output_data for r in Response.objects.filter(run=run)} == {
        case.pk: case.input_data for case in golden
    }
    assert callers.caller_class(run.model_endpoint) is callers.HttpCaller
    with pytest.raises(ExecutionError, match="Unknown endpoint kind"):
        callers.caller_class("ftp://example.org/model")
