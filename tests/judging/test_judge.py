"""llm_judge through the pipeline against a real scripted judge server on 127.0.0.1."""

import json
import os

import openai
import pytest
from django.db import connection

from evaluations.evaluators import EvaluatorConfigError
from evaluations.models import Evaluation, JudgeCall, JudgingTally, RunDataVersion
from evaluations.pipeline import evaluate_chunk, evaluate_run
from runs.connections import Connection
from tests.connectors.openai_server import Reply, completion
from tests.judging.conftest import answer_of, judge_spec, make_run, scripted

pytestmark = pytest.mark.django_db


def verdicts(run) -> dict[str, Evaluation]:
    return {
        e.response.output_data.get("text", "") if e.response.output_data else "": e
        for e in Evaluation.objects.for_run(run).select_related("response")
    }


def test_scores_are_mapped_exactly_and_bad_replies_are_judge_errors(judge_server):
    run = make_run(
        ["right answer", "close answer", "wrong answer", "garbled", "overscored", "fenced"]
    )
    result = evaluate_run(run, [judge_spec(judge_server)])
    assert (result.judge_calls, result.judge_cached, result.judge_errors) == (6, 0, 2)
    got = verdicts(run)
    assert {text: (v.score, v.passed) for text, v in got.items()} == {
        "right answer": (1.0, True),
        "close answer": (0.5, True),
        "wrong answer": (0.0, False),
        "garbled": (0.0, False),
        "overscored": (0.0, False),
        "fenced": (0.75, True),
    }
    right = got["right answer"]
    assert right.feedback == "Correct."  # the judge's reasoning is the feedback
    assert right.metrics["verdicts"] == [5] and right.metrics["agreement"] == 1.0
    assert right.metrics["judge"] == {"endpoint": judge_server.base_url, "model": "judge-1"}
    assert (right.metrics["input_tokens"], right.metrics["output_tokens"]) == (100, 20)
    assert right.metrics["tokens"] == 120 and right.metrics["cost"] is None  # no prices
    assert right.metrics["calls"] == 1 and "judge_error" not in right.metrics
    assert "not JSON" in got["garbled"].metrics["judge_error"]
    assert "outside 1-5" in got["overscored"].metrics["judge_error"]
    assert "error" not in got["garbled"].metrics  # not counted as a malformed model output


def test_the_request_is_json_mode_chat_and_the_official_client_accepts_it(judge_server):
    run = make_run(["right answer"])
    evaluate_run(run, [judge_spec(judge_server, params={"temperature": 0})])
    (request,) = judge_server.chat_requests()
    body = request.json()
    assert body["model"] == "judge-1" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and '"score": <an integer from 1 to 5>' in system["content"]
    assert "Question: " in user["content"] and "Reference answer: " in user["content"]
    client = openai.OpenAI(base_url=judge_server.base_url, api_key="unused", max_retries=0)
    reply = client.chat.completions.create(**body)  # the same request, by the official client
    assert json.loads(reply.choices[0].message.content)["score"] == 5


def row_versions(run) -> dict[int, tuple[str, str]]:
    """Each verdict's physical row version (ctid, xmin): an UPDATE changes both."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id, e.ctid::text, e.xmin::text FROM evaluations e "
            "JOIN responses r ON r.id = e.response_id WHERE r.run_id = %s",
            [run.pk],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def test_rescoring_reads_the_cache_and_asks_nothing(judge_server):
    run = make_run(["right answer", "wrong answer", "right answer"])
    first = evaluate_run(run, [judge_spec(judge_server)])
    asked = len(judge_server.chat_requests())
    assert asked == first.judge_calls == 3  # different questions (inputs differ)
    assert JudgeCall.objects.count() == 3
    before, written = verdicts(run), row_versions(run)
    assert {(v.metrics["cached"], v.metrics["cached_calls"]) for v in before.values()} == {
        (False, 0)
    }
    second = evaluate_run(run, [judge_spec(judge_server)])
    assert len(judge_server.chat_requests()) == asked  # nothing asked again
    assert (second.judge_calls, second.judge_cached, second.inserted) == (0, 3, 0)
    again = verdicts(run)
    assert again["wrong answer"].score == 0.0 and again["wrong answer"].feedback == "Wrong."
    # The same verdicts, to the last metric: left as they were, not rewritten.
    assert {text: v.metrics for text, v in again.items()} == {
        text: v.metrics for text, v in before.items()
    }
    assert row_versions(run) == written
    # Another run on the same answers: free too. Forcing (cache false) asks again.
    other = make_run(["right answer"])
    evaluate_run(other, [judge_spec(judge_server)])
    assert len(judge_server.chat_requests()) == asked
    written_from_cache = verdicts(other)["right answer"].metrics
    assert (written_from_cache["cached"], written_from_cache["cached_calls"]) == (True, 1)
    # Asked again (the call's own latency is new): rewritten, and no longer from the cache.
    evaluate_run(other, [judge_spec(judge_server, cache=False)])
    assert verdicts(other)["right answer"].metrics["cached"] is False
    forced = evaluate_run(run, [judge_spec(judge_server, cache=False)])
    assert forced.judge_calls == 3 and len(judge_server.chat_requests()) == asked + 4
    assert JudgeCall.objects.count() == 3  # replaced, not duplicated


def test_429_is_retried_and_a_slow_judge_times_out_without_being_cached(judge_server):
    attempts: dict[str, int] = {}

    def behaviour(request):
        text = answer_of(request)
        attempts[text] = attempts.get(text, 0) + 1
        if text.startswith("right") and attempts[text] == 1:
            return Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "0"})
        if text.startswith("wrong"):
            return Reply(body=completion('{"score": 1}'), delay=3)
        return scripted(request)

    judge_server.behaviour = behaviour
    run = make_run(["right answer", "wrong answer"])
    result = evaluate_run(run, [judge_spec(judge_server, timeout=1)])
    got = verdicts(run)
    assert got["right answer"].score == 1.0 and attempts["right answer"] == 2
    slow = got["wrong answer"]
    assert slow.score == 0.0 and "timed out after 1s" in slow.metrics["judge_error"]
    assert slow.feedback.startswith("The judge's reply could not be read: the judge call failed")
    assert result.judge_errors == 1
    assert JudgeCall.objects.count() == 1  # the failure is not kept: asked again next time


def test_failed_model_calls_and_failing_rubrics_ask_nothing(judge_server):
    run = make_run(["right answer", None, "close answer"], errors=["", "connection reset", ""])
    rubric = "Grade {{ output_data }} against {{ ground_truth.criterion }}"
    evaluate_run(run, [judge_spec(judge_server, rubric=rubric)])
    assert judge_server.chat_requests() == []
    rows = list(Evaluation.objects.for_run(run).order_by("response_id"))
    assert rows[1].metrics["call_failed"] is True
    assert rows[0].metrics["rubric_error"] is True and rows[0].score == 0.0
    assert "UndefinedError" in rows[0].metrics["judge_error"]
    assert rows[0].feedback.startswith("The rubric failed on this case")


def test_repeats_ask_n_times_and_keep_each_verdict(judge_server):
    seen: list[int] = []

    def behaviour(request):
        seen.append(1)
        score = [5, 1, 5][(len(seen) - 1) % 3]
        return Reply(body=completion(json.dumps({"reasoning": f"r{len(seen)}", "score": score})))

    judge_server.behaviour = behaviour
    run = make_run(["right answer"])
    evaluate_run(run, [judge_spec(judge_server, repeats=3, concurrency=1)])
    (verdict,) = Evaluation.objects.for_run(run)
    assert verdict.metrics["calls"] == 3 and sorted(verdict.metrics["verdicts"]) == [1, 5, 5]
    assert verdict.score == pytest.approx(2 / 3) and verdict.metrics["agreement"] == pytest.approx(
        2 / 3
    )
    assert sorted(verdict.metrics["reasonings"]) == ["r1", "r2", "r3"]
    assert JudgeCall.objects.count() == 3


def test_a_connection_supplies_headers_prices_and_model(judge_server, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-secret-value")
    Connection.objects.create(
        name="grader",
        kind="openai",
        base_url=judge_server.base_url,
        model="judge-from-connection",
        headers={"Authorization": "Bearer ${JUDGE_KEY}"},
        params={"temperature": 0.2},
        input_price_per_million="2.5",
        output_price_per_million="10",
    )
    run = make_run(["right answer", "close answer"])
    evaluate_run(run, ['llm_judge:{"connection": "grader", "scale": "1-5"}'])
    sent = judge_server.chat_requests()
    assert {r.headers["authorization"] for r in sent} == {"Bearer sk-secret-value"}
    assert {r.json()["model"] for r in sent} == {"judge-from-connection"}
    assert {r.json()["temperature"] for r in sent} == {0.2}
    verdict = verdicts(run)["right answer"]
    assert verdict.metrics["cost"] == pytest.approx((100 * 2.5 + 20 * 10) / 1e6)
    assert verdict.metrics["judge"] == {"connection": "grader", "model": "judge-from-connection"}
    stored = json.dumps([e.metrics for e in Evaluation.objects.all()]) + json.dumps(
        list(JudgeCall.objects.values_list("content", "endpoint", "model"))
    )
    assert "sk-secret-value" not in stored
    # The evaluator's own prices win over the connection's.
    evaluate_run(
        run,
        [
            'llm_judge:{"connection": "grader", "scale": "1-5", '
            '"input_price_per_million": 0, "cache": false}'
        ],
    )
    assert verdicts(run)["right answer"].metrics["cost"] == pytest.approx(20 * 10 / 1e6)


def test_a_missing_header_variable_fails_before_any_call(judge_server, monkeypatch):
    from evaluations.judging.judges import JudgeUnavailable

    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    Connection.objects.create(
        name="keyed",
        kind="openai",
        base_url=judge_server.base_url,
        model="m",
        headers={"Authorization": "Bearer ${NOT_SET_ANYWHERE}"},
    )
    run = make_run(["right answer"])
    with pytest.raises(JudgeUnavailable, match=r"\$\{NOT_SET_ANYWHERE\}"):
        evaluate_run(run, ['llm_judge:{"connection": "keyed"}'])
    assert judge_server.chat_requests() == [] and not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"connection": "nope"}, "no saved connection named nope"),
        ({"connection": "tabular"}, "needs an openai one"),
        ({"endpoint": "openai:http://127.0.0.1:9/v1"}, "give connection, or endpoint and model"),
        ({"endpoint": "ftp://x", "model": "m"}, "endpoint must be"),
        ({"connection": "tabular", "endpoint": "openai:http://h/v1"}, "not both"),
        ({"endpoint": "openai:http://h/v1", "model": "m", "scale": "1-10"}, "scale must be one of"),
        (
            {"endpoint": "openai:http://h/v1", "model": "m", "rubric": "{{ oops"},
            "not a valid template",
        ),
        (
            {"endpoint": "openai:http://h/v1", "model": "m", "params": {"model": "x"}},
            'may not set "model"',
        ),
        ({"endpoint": "openai:http://h/v1", "model": "m", "rate_limit": "fast"}, "rate_limit"),
        ({"endpoint": "openai:http://h/v1", "model": "m", "repeats": 0}, "repeats"),
    ],
)
def test_bad_judges_are_refused_before_anything_is_scored(params, message):
    Connection.objects.create(name="tabular", kind="mlflow", base_url="http://127.0.0.1:5000")
    run = make_run(["right answer"])
    with pytest.raises(EvaluatorConfigError, match=message):
        evaluate_run(run, ["llm_judge:" + json.dumps(params)])
    assert not Evaluation.objects.exists()


def test_without_the_pipeline_llm_judge_is_an_error_verdict_never_a_raise():
    from evaluations.evaluators import run_evaluator, validate_params

    params = validate_params("llm_judge", {"endpoint": "openai:http://h/v1", "model": "m"})
    verdict = run_evaluator("llm_judge", {"text": "x"}, {"text": "y"}, params)
    assert verdict.score == 0.0 and "pipeline" in verdict.metrics["error"]
    assert os.environ.get("NOT_SET_ANYWHERE") is None


def test_the_report_sums_the_judging_and_says_what_came_from_the_cache(
    judge_server, login, admin_user
):
    from evaluations.reports.run_report import build_run_report

    Connection.objects.create(
        name="priced",
        kind="openai",
        base_url=judge_server.base_url,
        model="judge-1",
        input_price_per_million=1,
        output_price_per_million=4,
    )
    run = make_run(["right answer", "close answer", "garbled", "wrong answer"])
    spec = 'llm_judge:{"connection": "priced", "scale": "1-5"}'
    evaluate_run(run, [spec])
    block = build_run_report(run)["judging"]
    latencies = sorted(
        latency for e in Evaluation.objects.for_run(run) for latency in e.metrics["latency_ms"]
    )
    cost = (3 * (100 * 1 + 20 * 4) + (100 * 1 + 5 * 4)) / 1e6
    assert block == {
        "verdicts": 4,
        "calls": 4,
        "asked": 4,
        "cached": 0,
        "verdicts_from_cache": 0,
        "errors": 1,
        "tokens": 4 * 100 + 3 * 20 + 5,
        "input_tokens": 400,
        "output_tokens": 65,
        "cost": pytest.approx(cost),
        "cost_from_cache": pytest.approx(0.0),
        "latency_ms": {
            "p50": pytest.approx((latencies[1] + latencies[2]) / 2),
            "p95": pytest.approx(latencies[2] + 0.85 * (latencies[3] - latencies[2])),
        },
    }
    version = RunDataVersion.objects.get(run=run).version
    evaluate_run(run, [spec])  # re-scored: every reply from the cache
    # No verdict was rewritten, yet the stored report is stale: the chunk's tally moved it.
    assert RunDataVersion.objects.get(run=run).version > version
    again = build_run_report(run)["judging"]
    assert (again["asked"], again["cached"], again["verdicts_from_cache"]) == (0, 4, 4)
    assert again["cost"] == pytest.approx(cost) and again["cost_from_cache"] == pytest.approx(cost)
    page = login(admin_user).get(f"/runs/{run.pk}/report/").content.decode()
    assert 'id="judging"' in page and "4 from the cache" in page
    assert build_run_report(make_run(["right answer"]))["judging"] is None


def test_assertions_with_a_judge_ask_it_about_llm_rubric_items(judge_server):
    def behaviour(request):
        user = request.json()["messages"][-1]["content"]
        assert user.startswith("Judge whether the answer meets this criterion: mentions that")
        answer = answer_of(request)
        if "garbled" in answer:
            return Reply(body=completion("no idea"))
        verdict = "pass" if "not an insect" in answer else "fail"
        return Reply(
            body=completion(json.dumps({"reasoning": f"It {verdict}s.", "verdict": verdict}))
        )

    judge_server.behaviour = behaviour
    truth = {
        "assert": [
            {"type": "contains", "value": "8"},
            {"type": "llm_rubric", "value": "mentions that spiders are not insects"},
        ]
    }
    run = make_run(["8 legs, not an insect", "8 legs", "8 legs garbled"], truth=truth)
    judge = {"endpoint": f"openai:{judge_server.base_url}", "model": "judge-1"}
    spec = "assertions:" + json.dumps({"judge": judge})
    result = evaluate_run(run, [spec])
    assert result.judge_calls == 3
    got = verdicts(run)
    assert {text: (v.score, v.passed) for text, v in got.items()} == {
        "8 legs, not an insect": (1.0, True),
        "8 legs": (0.5, False),
        "8 legs garbled": (0.5, False),
    }
    assert got["8 legs"].metrics["failed"] == ["#2 llm_rubric: output fails the rubric (It fails.)"]
    assert got["8 legs"].metrics["judged"] == [
        {"item": 2, "reasoning": "It fails.", "judge_error": None}
    ]
    assert got["8 legs"].metrics["skipped"] == []
    assert "not JSON" in got["8 legs garbled"].metrics["judge_error"]
    assert got["8 legs, not an insect"].metrics["judge"]["model"] == "judge-1"
    from evaluations.reports.run_report import build_run_report

    judging = build_run_report(run)["judging"]
    assert (judging["verdicts"], judging["calls"], judging["asked"], judging["errors"]) == (
        3,
        3,
        3,
        1,
    )
    assert judging["tokens"] == 2 * (7 + 3) + (7 + 3)  # the server's default usage per call
    again = evaluate_run(run, [spec])
    assert (again.judge_calls, again.judge_cached) == (0, 3)
    assert build_run_report(run)["judging"]["cached"] == 3
    # Without a judge the items are skipped, as before.
    evaluate_run(run, ["assertions"])
    assert verdicts(run)["8 legs"].score == 1.0 and verdicts(run)["8 legs"].metrics["skipped"]


def test_an_assertions_judge_is_checked_before_anything_is_scored():
    run = make_run(["x"])
    with pytest.raises(EvaluatorConfigError, match='"judge" is not a judge: give connection'):
        evaluate_run(run, ['assertions:{"judge": {"model": "m"}}'])
    with pytest.raises(EvaluatorConfigError, match='may not set "scale"'):
        evaluate_run(run, ['assertions:{"judge": {"connection": "c", "scale": "1-5"}}'])
    with pytest.raises(EvaluatorConfigError, match="no saved connection named c"):
        evaluate_run(run, ['assertions:{"judge": {"connection": "c"}}'])


def test_the_reference_is_shown_as_its_text_and_a_criterion_is_read_from_the_ground_truth():
    from evaluations.evaluators.judge import judge_messages

    _, user = judge_messages("correctness", "1-5", {"text": "How many legs?"}, {"text": "8"}, "8.")
    assert user["content"].endswith("Question: How many legs?\nReference answer: 8\nAnswer: 8.")
    _, user = judge_messages("pass_fail", "pass_fail", "q", {"criterion": "is polite"}, "a")
    assert user["content"].startswith("Judge whether the answer meets this criterion: is polite")
    _, user = judge_messages("{{ ground_truth }}", "pass_fail", "q", {"label": "x"}, "a")
    assert user["content"] == '{"label": "x"}'


def test_evaluate_run_prints_the_judge_calls_and_the_cache(judge_server):
    from io import StringIO

    from django.core.management import call_command

    run = make_run(["right answer", "garbled"])
    out = StringIO()
    call_command("evaluate_run", run.pk, "--evaluator", judge_spec(judge_server), stdout=out)
    assert "judge: 2 calls made, 0 replies from the judge cache, 1 judge errors" in out.getvalue()
    call_command("evaluate_run", run.pk, "--evaluator", judge_spec(judge_server), stdout=out)
    assert "judge: 0 calls made, 2 replies from the judge cache" in out.getvalue()


def test_a_running_judged_evaluation_shows_its_judge_calls(login, engineer):
    from jobs.models import Job

    run = make_run(["an answer"])
    job = Job.objects.create(
        kind="evaluation",
        target=run,
        state="running",
        total=1,
        counters={"evaluations_written": 0, "judge_calls": 40, "judge_cached": 12},
    )
    page = login(engineer).get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "Judge: 40 calls made, 12 from the cache." in page


def test_cache_hits_are_tallied_per_chunk_and_the_latest_scoring_of_each_counts(judge_server):
    from evaluations.judging.stage import judge_chunk
    from evaluations.pipeline import chunk_bounds, resolve_evaluators
    from evaluations.reports.judging import judging_block

    def block():
        return judging_block(run, {"llm_judge": 5})

    run = make_run(["right answer", "wrong answer", "close answer", "right one", "wrong one"])
    spec = judge_spec(judge_server)
    evaluate_run(run, [spec], chunk_size=2)
    tallies = JudgingTally.objects.filter(run=run).order_by("first_response_id")
    assert [(t.cached_calls, t.cached_verdicts) for t in tallies.all()] == [(0, 0)] * 3
    assert (block()["asked"], block()["cached"], block()["verdicts_from_cache"]) == (5, 0, 0)

    evaluate_run(run, [spec], chunk_size=3)  # every reply cached; chunks cut differently
    bounds = chunk_bounds(run.pk, 3)
    assert [(t.first_response_id, t.last_response_id, t.cached_calls) for t in tallies.all()] == [
        (first, last, count) for first, last, count in bounds
    ]  # the old chunks' rows replaced, not added to
    assert (block()["asked"], block()["cached"], block()["verdicts_from_cache"]) == (0, 5, 5)
    assert len(judge_server.chat_requests()) == 5

    # One chunk asked again (the cache forced): its count goes back to 0, the other's stays.
    first, last, _ = bounds[0]
    evaluators = resolve_evaluators(run, [judge_spec(judge_server, cache=False)])
    evaluate_chunk(
        run.pk, evaluators, (first, last), judge_chunk(run.pk, evaluators, (first, last))
    )
    assert len(judge_server.chat_requests()) == 5 + 3
    assert (block()["asked"], block()["cached"], block()["verdicts_from_cache"]) == (3, 2, 2)
    run.delete()
    assert not JudgingTally.objects.filter(run_id=run.pk).exists()  # gone with the run


@pytest.mark.parametrize(
    "text",
    ["plain", 'a " quote, a \\ backslash', "tab\tnew\nline\r", "\x01\x1f\x7f", "é 漢字 \u2028 😀"],
)
def test_cache_keys_are_the_sha256_of_the_canonical_json_whatever_the_text(text):
    """The keys are computed faster than json would, but the same: cached replies stay found."""
    import hashlib

    from evaluations.judging.judges import Judge

    messages = [{"role": "system", "content": text}, {"role": "user", "content": text[::-1]}]
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    expected = hashlib.sha256(b"head\n" + canonical.encode() + b"\n2").hexdigest()
    assert Judge.keyed(b"head")(messages, 2) == expected


@pytest.mark.parametrize(
    ("rubric", "scale", "reply", "score", "labels"),
    [
        (
            "faithfulness",
            "pass_fail",
            {"reasoning": "It adds a claim the context lacks.", "verdict": "fail"},
            0.0,
            ("Context and question: ", "supported by the given context"),
        ),
        (
            "helpfulness",
            "0-10",
            {"reasoning": "Addresses most of the request.", "score": 7},
            0.7,
            ("Request: ", "how helpful the answer is"),
        ),
    ],
)
def test_the_built_in_rubrics_are_asked_and_read_end_to_end(
    judge_server, rubric, scale, reply, score, labels
):
    judge_server.behaviour = lambda request: Reply(body=completion(json.dumps(reply)))
    run = make_run(["an answer"])
    evaluate_run(run, [judge_spec(judge_server, rubric=rubric, scale=scale)])
    (verdict,) = Evaluation.objects.for_run(run)
    assert verdict.score == pytest.approx(score)
    assert verdict.feedback == reply["reasoning"]
    assert verdict.metrics["verdicts"] == [reply.get("verdict", reply.get("score"))]
    (request,) = judge_server.chat_requests()
    prompt = "\n".join(message["content"] for message in request.json()["messages"])
    assert all(label in prompt for label in labels), prompt
    assert "question 0" in prompt and "an answer" in prompt
