"""The judging stage of one chunk: prompts rendered, the judge cache read, the rest asked.

:func:`judge_chunk` runs before the chunk's verdicts are written, outside their transaction:
each reply is committed to the judge cache (``judge_calls``) as it arrives, in small
batches, so a worker killed mid-chunk loses only the calls in flight; the chunk's next
attempt finds the others in the cache. The same cache makes re-scoring a run, or scoring
another run on the same answers, ask nothing. Failed calls (no reply after the retries) are
not kept: they are judge errors on their verdicts, asked again next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection

from cases.ground_truth import assertion_errors
from evaluations.chunk_rows import chunk_rows, collector_paused
from evaluations.evaluators import REGISTRY, Verdict, run_evaluator
from evaluations.evaluators.assertions import assertions, rubric_judge_params
from evaluations.evaluators.judge import (
    CACHE_BOOKKEEPING,
    JudgeReply,
    judge_messages,
    judged_verdict,
)
from evaluations.judging.client import Answer, JudgeClient, Question, request_body
from evaluations.judging.judges import Judge, judge_params_of, resolve_judge
from evaluations.judging.tallies import Tally
from evaluations.planning import PlannedEvaluator
from mleval_site.jsonsafe import clean_text

FLUSH_EVERY = 200  # replies per cache write
FLUSH_SECONDS = 0.5  # and at least this often while replies arrive
LOOKUP_BATCH = 10_000

# (asked, cached): judge calls made, and read from the cache, since the last call.
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class JudgedChunk:
    """The judged verdicts of a chunk by (response id, evaluator), and what they took."""

    verdicts: dict[tuple[int, str], Verdict] = field(default_factory=dict)
    # The chunk's rows as read (with the cases' inputs): the pipeline scores the same rows.
    rows: list[tuple] | None = None
    asked: int = 0  # judge calls made now
    cached: int = 0  # judge calls answered from the cache
    failed: int = 0  # calls without a reply (after the retries)
    # Cache hits per judged evaluator, for the report (evaluations.judging.tallies).
    tallies: dict[str, Tally] = field(default_factory=dict)

    def verdict(self, response_id: int, name: str) -> Verdict | None:
        return self.verdicts.get((response_id, name))


def judged(evaluators: Iterable[PlannedEvaluator]) -> list[PlannedEvaluator]:
    """The evaluators that ask a judge: llm_judge, assertions with a judge."""
    return [e for e in evaluators if judge_params_of(e.name, e.params) is not None]


def judge_chunk(
    run_id: int,
    evaluators: Sequence[PlannedEvaluator],
    id_range: tuple[int, int],
    progress: Progress | None = None,
) -> JudgedChunk:
    """The judged evaluators' verdicts on the chunk's responses (a model's failed call has
    none: the pipeline scores it as such). Raises JudgeUnavailable when a judge cannot be
    asked at all; never for a model's output or a judge's reply."""
    result = JudgedChunk()
    chosen = judged(evaluators)
    if not chosen:
        return result
    result.rows = chunk_rows(run_id, id_range, inputs=True)
    for evaluator in chosen:
        judge = _judge if REGISTRY[evaluator.name].judged else _judge_rubrics
        judge(evaluator, result.rows, result, progress or (lambda asked, cached: None))
    return result


# Parameters that change how the judge is asked, not what it says: left out of metrics.params.
OPERATIONAL = ("concurrency", "timeout", "cache")


def recorded_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a judged verdict records: those that decide it (set ones only)."""
    return {
        name: value
        for name, value in params.items()
        if value is not None and name not in OPERATIONAL
    }


def _judge(
    evaluator: PlannedEvaluator, rows: list[tuple], result: JudgedChunk, progress: Progress
) -> None:
    name, params, types = evaluator.name, evaluator.params, evaluator.output_types
    judge = resolve_judge(params)
    tally = result.tallies[name] = Tally()
    bookkeeping = {"evaluator_version": REGISTRY[name].version, "params": recorded_params(params)}
    keyer = None  # the evaluator's cache keys, made on its first question
    keys_of: dict[int, list[str]] = {}
    requests: dict[str, dict[str, Any]] = {}
    repeat_of: dict[str, int] = {}
    with collector_paused():  # no network here: the replies are asked below
        for response_id, output, error, truth, output_type, input_data in rows:
            if error or (types is not None and output_type not in types):
                continue
            try:
                messages = judge_messages(
                    params["rubric"], params["scale"], input_data, truth, output
                )
            except (
                Exception
            ) as problem:  # the sandbox's errors: an undefined name, a forbidden call
                result.verdicts[(response_id, name)] = _rubric_failed(problem, judge, bookkeeping)
                continue
            request = judge.request(messages)
            keyer = keyer or judge.keyed(judge.key_head(request))
            keys = [keyer(messages, repeat) for repeat in range(params["repeats"])]
            keys_of[response_id] = keys
            for repeat, key in enumerate(keys):
                requests[key] = request
                repeat_of[key] = repeat
    replies = _replies(judge, params, requests, repeat_of, result, progress)
    with collector_paused():  # the replies read into verdicts
        for response_id, keys in keys_of.items():
            calls = [replies[key] for key in keys]
            tally.count(calls)
            verdict = judged_verdict(params, calls, judge.label)
            verdict.metrics.update(bookkeeping)
            result.verdicts[(response_id, name)] = verdict


def _judge_rubrics(
    evaluator: PlannedEvaluator, rows: list[tuple], result: JudgedChunk, progress: Progress
) -> None:
    """The assertions evaluator with a judge: each llm_rubric item is asked as a pass/fail
    criterion (the built-in pass_fail rubric); the rest of the list is scored as usual."""
    name, params, types = evaluator.name, evaluator.params, evaluator.output_types
    judge_params = rubric_judge_params(params["judge"])
    judge = resolve_judge(judge_params)
    tally = result.tallies[name] = Tally()
    keyer = None
    items_of: dict[int, dict[int, list[str]]] = {}
    requests: dict[str, dict[str, Any]] = {}
    repeat_of: dict[str, int] = {}
    by_id = {row[0]: row for row in rows}
    for response_id, output, error, truth, output_type, input_data in rows:
        if error or (types is not None and output_type not in types):
            continue
        items = truth.get("assert") if isinstance(truth, dict) else None
        if not isinstance(items, list) or assertion_errors(items):
            continue  # scored as usual: a ground-truth error, or nothing to judge
        for position, item in enumerate(items):
            if item["type"] != "llm_rubric":
                continue
            try:
                messages = judge_messages(
                    "pass_fail", "pass_fail", input_data, {"criterion": item["value"]}, output
                )
            except Exception:  # noqa: BLE001 - an unrenderable output: the item stays skipped
                continue
            request = judge.request(messages)
            keyer = keyer or judge.keyed(judge.key_head(request))
            keys = [keyer(messages, repeat) for repeat in range(judge_params["repeats"])]
            items_of.setdefault(response_id, {})[position] = keys
            for repeat, key in enumerate(keys):
                requests[key] = request
                repeat_of[key] = repeat
    replies = _replies(judge, judge_params, requests, repeat_of, result, progress)
    for response_id, items in items_of.items():
        rubrics = {}
        for position, keys in items.items():
            verdict = judged_verdict(judge_params, [replies[key] for key in keys], judge.label)
            error = verdict.metrics.get("judge_error")
            rubrics[position] = (verdict.passed, verdict.feedback, _one(error))
        _, output, _, truth, *_ = by_id[response_id]
        score = partial(assertions, rubrics=rubrics)
        verdict = run_evaluator(name, output, truth, params, score=score)
        # The judge calls behind the verdict, as llm_judge's verdicts count them (the report's
        # judging block sums both).
        calls = [replies[key] for keys in items.values() for key in keys]
        tally.count(calls)
        usage = judged_verdict(judge_params, calls, judge.label).metrics
        for key in ("judge", "calls", "input_tokens", "output_tokens", "tokens", "cost"):
            verdict.metrics[key] = usage[key]
        verdict.metrics["latency_ms"] = usage["latency_ms"]
        for key in CACHE_BOOKKEEPING:
            verdict.metrics[key] = usage[key]
        result.verdicts[(response_id, name)] = verdict


def _one(error: Any) -> str | None:
    return error[0] if isinstance(error, list) else error


def _replies(
    judge: Judge,
    params: dict[str, Any],
    requests: dict[str, dict[str, Any]],
    repeat_of: dict[str, int],
    result: JudgedChunk,
    progress: Progress,
) -> dict[str, JudgeReply]:
    """Every question's reply: from the judge cache, the rest asked now (and cached)."""
    replies = read_cache(requests) if params["cache"] else {}
    result.cached += len(replies)
    progress(0, len(replies))
    missing = [Question(key, request_body(requests[key])) for key in requests if key not in replies]
    if missing:
        _ask(judge, params, missing, repeat_of, replies, result, progress)
    return replies


def _ask(
    judge: Judge,
    params: dict[str, Any],
    questions: list[Question],
    repeat_of: dict[str, int],
    replies: dict[str, JudgeReply],
    result: JudgedChunk,
    progress: Progress,
) -> None:
    client = JudgeClient(judge, params["concurrency"], params["timeout"])
    pending: list[Answer] = []
    reported = 0
    flushed = time.monotonic()
    for answer in client.ask(questions):
        replies[answer.key] = answer.reply
        result.asked += 1
        if answer.reply.content is None:
            result.failed += 1
        else:
            pending.append(answer)
        if len(pending) >= FLUSH_EVERY or time.monotonic() - flushed >= FLUSH_SECONDS:
            store(judge, pending, repeat_of)
            pending = []
            progress(result.asked - reported, 0)
            reported, flushed = result.asked, time.monotonic()
    store(judge, pending, repeat_of)
    progress(result.asked - reported, 0)


def _rubric_failed(problem: Exception, judge: Judge, bookkeeping: dict) -> Verdict:
    """A rubric that fails on this case (it names a key the case lacks): a judge error, and
    nothing is asked."""
    message = f"the rubric failed on this case: {type(problem).__name__}: {problem}"[:500]
    metrics = {"judge_error": message, "rubric_error": True, "judge": judge.label, **bookkeeping}
    return Verdict(0.0, False, metrics, message[0].upper() + message[1:] + ".")


# --- the judge cache -----------------------------------------------------------------------

# The keys (hex digests: no commas) go as one comma-joined string, not a text[] parameter:
# psycopg adapts a 5,000-element list element by element (measured 60 -> 25 ms a chunk).
_READ_SQL = """
SELECT key, content, input_tokens, output_tokens, latency_ms, cost
FROM judge_calls WHERE key = ANY(string_to_array(%s, ','))
"""

_STORE_SQL = """
INSERT INTO judge_calls
    (key, endpoint, model, repeat, content, input_tokens, output_tokens, latency_ms, cost)
SELECT k, %s, %s, r, c, i, o, l, p
FROM unnest(%s::text[], %s::int[], %s::text[], %s::int[], %s::int[], %s::float8[], %s::float8[])
    AS t(k, r, c, i, o, l, p)
ON CONFLICT (key) DO UPDATE SET
    content = EXCLUDED.content, input_tokens = EXCLUDED.input_tokens,
    output_tokens = EXCLUDED.output_tokens, latency_ms = EXCLUDED.latency_ms,
    cost = EXCLUDED.cost, created_at = now()
"""


def read_cache(keys: Iterable[str]) -> dict[str, JudgeReply]:
    """The cached replies among ``keys`` (marked cached)."""
    keys = list(keys)
    found: dict[str, JudgeReply] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(keys), LOOKUP_BATCH):
            cursor.execute(_READ_SQL, [",".join(keys[start : start + LOOKUP_BATCH])])
            for key, content, inputs, outputs, latency, cost in cursor.fetchall():
                found[key] = JudgeReply(content, "", inputs, outputs, latency, cost, cached=True)
    return found


def store(judge: Judge, answers: Sequence[Answer], repeat_of: dict[str, int]) -> None:
    """Keep replies in the judge cache (one statement; a key asked again is replaced)."""
    if not answers:
        return
    columns: list[list[Any]] = [[] for _ in range(7)]
    for answer in answers:
        reply = answer.reply
        values = (
            answer.key,
            repeat_of.get(answer.key, 0),
            clean_text(reply.content),
            reply.input_tokens,
            reply.output_tokens,
            reply.latency_ms,
            reply.cost,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL, [judge.base_url, judge.model, *columns])
