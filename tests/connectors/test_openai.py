"""The openai: kind against a real OpenAI-compatible server on 127.0.0.1 (no HTTP mocks)."""

import json

import openai
import pytest

from runs.callers import ExecutionError, ExecutionOptions
from runs.execution import execute_run
from runs.models import Response
from tests.connectors.openai_server import Reply, completion

FAST = ExecutionOptions(concurrency=4, timeout=5, retries=2, backoff=0.01)


def test_the_server_speaks_openai_to_the_official_client(openai_server):
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "hello there"
    assert reply.usage.prompt_tokens + reply.usage.completion_tokens == 10
    assert [m.id for m in client.models.list()] == ["test-model"]


def test_text_replies_tokens_and_the_request(openai_server, make_run, cases):
    run = make_run(
        f"openai:{openai_server.base_url}",
        system="Answer about case {{ test_case_id }}.",
        prompt="Review: {{ input_data.text }}",
        params={"temperature": 0, "max_tokens": 16},
    )
    summary = execute_run(run, FAST)
    assert (summary.status, summary.completed_cases, summary.failed_cases) == ("completed", 6, 0)
    by_case = {r.test_case_id: r for r in Response.objects.filter(run=run)}
    case = cases[0]
    assert by_case[case.pk].output_data == {"text": f"Review: {case.input_data['text']}"}
    assert by_case[case.pk].tokens_used == 10
    assert by_case[case.pk].latency_ms is not None
    request = next(
        r.json()
        for r in openai_server.chat_requests()
        if r.json()["messages"][0]["content"] == f"Answer about case {case.pk}."
    )
    assert request == {
        "temperature": 0,
        "max_tokens": 16,
        "model": "chat-model",  # the run's model name by default
        "messages": [
            {"role": "system", "content": f"Answer about case {case.pk}."},
            {"role": "user", "content": f"Review: {case.input_data['text']}"},
        ],
    }


def test_default_prompt_is_the_inputs_text_and_model_key(openai_server, make_run, cases):
    run = make_run(f"openai:{openai_server.base_url}", model="llama3")
    execute_run(run, FAST)
    sent = [r.json() for r in openai_server.chat_requests()]
    assert {m["model"] for m in sent} == {"llama3"}
    assert sorted(m["messages"][0]["content"] for m in sent) == sorted(
        c.input_data["text"] for c in cases
    )


def test_json_output_is_parsed_and_a_non_json_reply_fails_naming_why(
    openai_server, make_run, cases
):
    def behaviour(request):
        text = request.json()["messages"][-1]["content"]
        if text.startswith("review 0"):
            return Reply(body=completion("sorry, I cannot answer in JSON"))
        if text.startswith("review 1"):
            return Reply(body=completion('```json\n{"label": "positive"}\n```'))
        return Reply(body=completion(json.dumps({"label": "positive", "score": 0.9})))

    openai_server.behaviour = behaviour
    run = make_run(f"openai:{openai_server.base_url}", output="json")
    summary = execute_run(run, FAST)
    assert (summary.completed_cases, summary.failed_cases) == (5, 1)
    failed = Response.objects.get(run=run, test_case=cases[0])
    assert failed.error_message.startswith('the reply is not JSON ("output": "json"): Expecting')
    assert "sorry, I cannot answer" in failed.error_message
    assert Response.objects.get(run=run, test_case=cases[1]).output_data == {"label": "positive"}
    assert Response.objects.get(run=run, test_case=cases[2]).output_data == {
        "label": "positive",
        "score": 0.9,
    }


def test_label_output(openai_server, make_run, cases):
    openai_server.behaviour = lambda request: Reply(body=completion("  positive\n"))
    run = make_run(f"openai:{openai_server.base_url}", output="label")
    execute_run(run, FAST)
    assert {r.output_data["label"] for r in Response.objects.filter(run=run)} == {"positive"}


def test_429_with_retry_after_is_honoured(openai_server, make_run, cases):
    seen: dict[str, int] = {}

    def behaviour(request):
        text = request.json()["messages"][-1]["content"]
        seen[text] = seen.get(text, 0) + 1
        if seen[text] == 1:
            return Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "0.3"})
        return Reply(body=completion(text))

    openai_server.behaviour = behaviour
    run = make_run(f"openai:{openai_server.base_url}")
    summary = execute_run(run, ExecutionOptions(concurrency=6, retries=2, backoff=0.01))
    assert (summary.completed_cases, summary.failed_cases) == (6, 0)
    requests = openai_server.chat_requests()
    assert len(requests) == 12
    for text in seen:
        first, second = [r.at for r in requests if r.json()["messages"][-1]["content"] == text]
        assert second - first >= 0.3  # the backoff alone would be ~0.01 s


def test_a_refused_request_fails_its_case_with_the_servers_answer(openai_server, make_run):
    openai_server.behaviour = lambda request: Reply(400, {"error": {"message": "bad model"}})
    run = make_run(f"openai:{openai_server.base_url}")
    summary = execute_run(run, FAST)
    assert (summary.status, summary.failed_cases) == ("failed", 6)
    assert Response.objects.filter(run=run).first().error_message.startswith("HTTP 400: ")
    assert len(openai_server.chat_requests()) == 6  # a 4xx other than 429 is not retried


def test_a_template_failing_on_a_later_case_fails_that_case(openai_server, make_run, cases):
    cases[3].input_data = {"other": 1}
    cases[3].save()
    run = make_run(f"openai:{openai_server.base_url}", prompt="{{ input_data.text }}")
    summary = execute_run(run, FAST)
    assert (summary.completed_cases, summary.failed_cases) == (5, 1)
    error = Response.objects.get(run=run, test_case=cases[3]).error_message
    assert error.startswith(f"the prompt template failed on case {cases[3].pk}: UndefinedError")


def test_a_template_failing_on_the_first_case_stops_the_run_before_it_starts(
    openai_server, make_run, cases
):
    run = make_run(f"openai:{openai_server.base_url}", prompt="{{ input_data.question }}")
    with pytest.raises(ExecutionError, match=f"the prompt template failed on case {cases[0].pk}"):
        execute_run(run, FAST)
    run.refresh_from_db()
    assert run.status == "pending" and not Response.objects.filter(run=run).exists()
    assert openai_server.chat_requests() == []


def test_every_connection_is_warmed_before_the_first_timed_call(openai_server, make_run):
    """Connecting is not timed: each connection's first request is the untimed GET /models."""
    run = make_run(f"openai:{openai_server.base_url}")
    execute_run(run, ExecutionOptions(concurrency=4, timeout=5))
    with openai_server.lock:
        requests = list(openai_server.requests)
    assert openai_server.connections == 4
    first = {}
    for request in requests:
        first.setdefault(request.connection, request)
    assert {(r.method, r.path) for r in first.values()} == {("GET", "/v1/models")}
    assert len(openai_server.chat_requests()) == 6


@pytest.mark.django_db(transaction=True)
def test_cancel_mid_run_then_resume_calls_each_case_once(openai_server):
    import threading
    import time

    from runs.selection import register_run
    from tests.baker_recipes import make_cases

    make_cases(40)
    openai_server.delay = 0.05
    run = register_run(
        model_name="m", model_version="1", model_type="nlp",
        model_endpoint=f"openai:{openai_server.base_url}", config={"prompt": "{{ test_case_id }}"},
    )  # fmt: skip
    options = ExecutionOptions(concurrency=2, timeout=5)
    worker = threading.Thread(target=execute_run, args=(run, options))
    worker.start()
    deadline = time.monotonic() + 30
    while Response.objects.filter(run=run).count() < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.cancel()
    worker.join(10)
    run.refresh_from_db()
    assert run.status == "cancelled" and 4 <= run.completed_cases < 40
    openai_server.delay = 0
    stored_before = {
        str(i) for i in Response.objects.filter(run=run).values_list("test_case_id", flat=True)
    }
    calls_before = len(openai_server.chat_requests())
    summary = execute_run(run, options)
    assert (summary.status, summary.completed_cases) == ("completed", 40)
    texts = [r.json()["messages"][-1]["content"] for r in openai_server.chat_requests()]
    assert Response.objects.filter(run=run).count() == 40
    resumed = texts[calls_before:]
    assert sorted(resumed) == sorted(set(texts) - stored_before)  # each missing case, once
    # Calls in flight (or answered but not yet written) when the cancel was seen are dropped
    # and made again on resume; a case with a stored response is never called again.
    assert len(set(texts)) == 40 and len(texts) - 40 <= 4
    assert max(texts.count(text) for text in texts) <= 2
