"""The pure half of ``llm_judge``: rubrics, the judge's prompt, its reply read, repeats combined.

The network half is the pipeline's judging stage (:mod:`evaluations.judging`): it renders the
pending prompts, asks the judge through an ``openai:`` endpoint or a saved connection (its rate
limit, retries and 429 handling), keeps the replies in the judge cache, and hands them back
here. Everything in this module is a pure function of JSON, so that stage only moves strings:
:func:`judge_messages` before the call, :func:`judged_verdict` (:func:`read_reply` per repeat,
:func:`combine` over them) after it.

Where a verdict's rationale lives (for human grading and calibration): ``feedback`` is the
judge's reasoning (the first repeat's), ``metrics.reasonings`` every repeat's when ``repeats``
> 1, ``metrics.verdicts`` the raw verdicts, ``metrics.judge`` who judged.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2.runtime import new_context

from mleval_site.api_schema import json_object, text
from mleval_site.jsonsafe import loads_fast
from runs.endpoint_config import parse_rate_limit, template
from runs.endpoint_grammar import RATE, URL

from .base import Evaluator, Example, Param, Verdict, threshold_param

# A rubric says what to judge; the scale instruction and the JSON reply format are added to it.
BUILT_IN_RUBRICS: dict[str, str] = {
    "correctness": (
        "Judge whether the answer is correct against the reference answer. Minor wording "
        "differences do not matter; wrong or missing facts do.\n\n"
        "Question: {{ input_data }}\nReference answer: {{ ground_truth }}\n"
        "Answer: {{ output_data }}"
    ),
    "faithfulness": (
        "Judge whether every claim in the answer is supported by the given context; an answer "
        "that adds unsupported facts is unfaithful even when they are true.\n\n"
        "Context and question: {{ input_data }}\nAnswer: {{ output_data }}"
    ),
    "helpfulness": (
        "Judge how helpful the answer is to the user: does it address the request, clearly "
        "and completely?\n\nRequest: {{ input_data }}\nAnswer: {{ output_data }}"
    ),
    "pass_fail": (
        "Judge whether the answer meets this criterion: {{ ground_truth.criterion "
        "if ground_truth is mapping and 'criterion' in ground_truth else ground_truth }}\n\n"
        "Input: {{ input_data }}\nAnswer: {{ output_data }}"
    ),
}

SCALES: dict[str, tuple[int, int] | None] = {"pass_fail": None, "1-5": (1, 5), "0-10": (0, 10)}

_FORMAT = {
    "pass_fail": '{"reasoning": "<one or two sentences>", "verdict": "pass" or "fail"}',
    "1-5": '{"reasoning": "<one or two sentences>", "score": <an integer from 1 to 5>}',
    "0-10": '{"reasoning": "<one or two sentences>", "score": <an integer from 0 to 10>}',
}


class JudgeReplyError(ValueError):
    """The judge's reply cannot be read as a verdict (recorded as metrics.judge_error)."""


def rubric_source(rubric: str) -> str:
    """A built-in rubric's template by name, else the rubric itself (a Jinja2 template)."""
    return BUILT_IN_RUBRICS.get(rubric, rubric)


def _shown(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"text"} and isinstance(value["text"], str):
        return value["text"]
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class _Truth(dict):
    """A ground truth object: its keys readable in a rubric (``ground_truth.criterion``), and
    printed as its text (``{"text": "8"}`` → ``8``) or JSON, not as a Python dict."""

    def __str__(self) -> str:
        return _shown(dict(self))


def judge_messages(
    rubric: str, scale: str, input_data: Any, ground_truth: Any, output_data: Any
) -> list[dict[str, str]]:
    """The chat messages asking for one verdict. The rubric renders in the connectors' Jinja2
    sandbox; ``{"text": ...}`` values are shown as their text. Raises the sandbox's errors."""
    prompt = _render(
        rubric_source(rubric),
        input_data=_shown(input_data),
        ground_truth=_Truth(ground_truth)
        if isinstance(ground_truth, dict)
        else _shown(ground_truth),
        output_data=_shown(output_data),
    )
    system = (
        "You are a strict, fair evaluator. Reply with one JSON object only, exactly: "
        + _FORMAT[scale]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> tuple[Any, dict[str, Any]]:
    compiled = template(source)
    return compiled, dict(compiled.globals)


def _render(source: str, **values: Any) -> str:
    """``template(source).render(**values)`` without merging the environment's globals anew
    on every call (half of a render's time, once per judged response): the same context,
    built once per rubric."""
    compiled, globals_ = _compiled(source)
    # Template.new_context hands its ChainMap of globals to the Context, which copies its keys
    # into a set on every render (a third of a render): the flat copy says the same, faster.
    context = new_context(
        compiled.environment, compiled.name, compiled.blocks, {**globals_, **values}, True, globals_
    )
    return "".join(compiled.root_render_func(context))


@dataclass(frozen=True, slots=True)
class JudgeReading:
    """One reply read: the score mapped to [0, 1], the raw value and the reasoning."""

    score: float
    raw: Any
    reasoning: str


def read_reply(content: str, scale: str) -> JudgeReading:
    """Parse one reply; JudgeReplyError says why it is not a verdict on ``scale``."""
    text = content.strip()
    if text.startswith("```"):  # a fenced block despite JSON mode
        text = text.strip("`").removeprefix("json").strip()
    try:
        reply = loads_fast(text)
    except ValueError:
        raise JudgeReplyError(f"the reply is not JSON: {content[:200]!r}") from None
    if not isinstance(reply, dict):
        raise JudgeReplyError(f"the reply is not a JSON object: {content[:200]!r}")
    reasoning = reply.get("reasoning", "")
    reasoning = reasoning if isinstance(reasoning, str) else json.dumps(reasoning)
    bounds = SCALES[scale]
    if bounds is None:
        verdict = reply.get("verdict")
        if isinstance(verdict, bool):
            return JudgeReading(float(verdict), verdict, reasoning)
        if isinstance(verdict, str) and verdict.strip().lower() in ("pass", "fail"):
            passed = verdict.strip().lower() == "pass"
            return JudgeReading(float(passed), verdict.strip().lower(), reasoning)
        raise JudgeReplyError(f'"verdict" must be "pass" or "fail", got {verdict!r}')
    low, high = bounds
    value = reply.get("score")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JudgeReplyError(f'"score" must be a number from {low} to {high}, got {value!r}')
    if not low <= value <= high:
        raise JudgeReplyError(f'"score" {value!r} is outside {low}-{high}')
    return JudgeReading((value - low) / (high - low), value, reasoning)


def combine(
    readings: Sequence[JudgeReading | JudgeReplyError], threshold: float
) -> tuple[float, bool, dict[str, Any], str]:
    """The repeats' verdict: (score, passed, metrics, feedback). A judge error counts 0; the
    score is the mean; agreement is the share of repeats on the majority pass/fail side."""
    scores = [r.score if isinstance(r, JudgeReading) else 0.0 for r in readings]
    errors = [str(r) for r in readings if isinstance(r, JudgeReplyError)]
    score = sum(scores) / len(scores) if scores else 0.0
    passing = sum(s >= threshold for s in scores)  # not a Counter: once per judged verdict
    agreement = max(passing, len(scores) - passing) / len(scores) if scores else 0.0
    metrics: dict[str, Any] = {
        "verdicts": [r.raw if isinstance(r, JudgeReading) else None for r in readings],
        "agreement": agreement,
    }
    if errors:
        metrics["judge_error"] = errors[0] if len(errors) == 1 else errors
    reasons = [r.reasoning for r in readings if isinstance(r, JudgeReading) and r.reasoning]
    feedback = reasons[0] if reasons else f"The judge's reply could not be read: {errors[0]}."
    return score, score >= threshold, metrics, feedback


def check_judge_params(params: Mapping[str, Any]) -> None:
    """Cross-parameter rules of llm_judge; ValueError with the reason. (That a connection
    exists, is an openai one and has a model is checked when a run's evaluators are chosen:
    it needs the database.)"""
    if params.get("scale") not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}")
    if params.get("connection") and params.get("endpoint"):
        raise ValueError("give connection or endpoint, not both")
    if not params.get("connection") and not (params.get("endpoint") and params.get("model")):
        raise ValueError("give connection, or endpoint and model")
    endpoint = params.get("endpoint")
    if endpoint and not endpoint_base(endpoint).startswith(("http://", "https://")):
        raise ValueError(
            f'endpoint must be "openai:<base URL>" (or the base URL), got {endpoint!r}'
        )
    reserved = sorted(set(RESERVED) & set(params.get("params") or {}))
    if reserved:
        raise ValueError(f'params may not set "{reserved[0]}" (the judge sets it)')
    if params.get("rate_limit"):
        parse_rate_limit(params["rate_limit"])
    try:
        template(rubric_source(params.get("rubric") or "correctness"))
    except Exception as error:  # a syntax error in a custom rubric
        raise ValueError(f"rubric is not a valid template: {error}") from None


# check_judge_params as JSON Schema (the API's, evaluations.evaluators.params_schema).
RESERVED = ("messages", "model")  # request fields the judge sets itself
RESERVED_KEYS = [{"required": [key]} for key in RESERVED]
_FALSY = {"enum": [None, ""]}  # null or "": as if absent


def _given(name: str) -> dict:
    return {"properties": {name: {"type": "string", "minLength": 1}}, "required": [name]}


JUDGE_RULES = {
    "anyOf": [
        {"allOf": [_given("connection"), {"properties": {"endpoint": _FALSY}}]},
        {"allOf": [{"properties": {"connection": _FALSY}}, _given("endpoint"), _given("model")]},
    ],
    "description": "connection, or endpoint and model (not both)",
}
# A template without "{{", "{%" or "{#" always parses; one with them may or may not (not
# described: the check parses it).
_PLAIN_RUBRIC = r"^(?:[^{\x00]|\{[^{%#\x00])*\{?$"


def rubric_schema() -> dict:
    return {"anyOf": [{"enum": sorted(BUILT_IN_RUBRICS)}, text(pattern=_PLAIN_RUBRIC)]}


def endpoint_base(endpoint: str) -> str:
    """``openai:http://host/v1`` (or ``http://host/v1``) → ``http://host/v1``."""
    return endpoint.removeprefix("openai:").rstrip("/")


@dataclass(frozen=True, slots=True)
class JudgeReply:
    """One judge call's outcome: the reply's text, or the problem that left it without one
    (after the retries). Tokens, latency and cost are the call's own; ``cached`` says it was
    read from the judge cache rather than asked now."""

    content: str | None
    problem: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    cached: bool = False


def _total(values: Sequence[float | int | None]) -> float | int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


#: Metrics that say where a judged verdict's replies came from, not what it is: left out of
#: the content the pipeline compares, so a re-score from the cache rewrites nothing.
CACHE_BOOKKEEPING = ("cached", "cached_calls")


def judged_verdict(
    params: Mapping[str, Any], replies: Sequence[JudgeReply], judge: Mapping[str, Any]
) -> Verdict:
    """The verdict from the judge's replies (one per repeat): each read on the scale, then
    combined. A failed call or an unreadable reply is a judge error counted 0, never a raise.
    ``judge`` says who judged ({"model", "connection" | "endpoint"}), kept in the metrics."""
    readings: list[JudgeReading | JudgeReplyError] = []
    for reply in replies:
        if reply.content is None:
            readings.append(JudgeReplyError(f"the judge call failed: {reply.problem}"))
            continue
        try:
            readings.append(read_reply(reply.content, params["scale"]))
        except JudgeReplyError as error:
            readings.append(error)
    score, passed, metrics, feedback = combine(readings, params["threshold"])
    if len(replies) > 1:
        metrics["reasonings"] = [
            r.reasoning if isinstance(r, JudgeReading) else None for r in readings
        ]
    inputs = _total([r.input_tokens for r in replies])
    outputs = _total([r.output_tokens for r in replies])
    cached = sum(reply.cached for reply in replies)
    metrics.update(
        judge=dict(judge),
        calls=len(replies),
        input_tokens=inputs,
        output_tokens=outputs,
        tokens=None if inputs is None and outputs is None else (inputs or 0) + (outputs or 0),
        cost=_total([r.cost for r in replies]),
        latency_ms=[r.latency_ms for r in replies],
        # Bookkeeping, not the verdict's content (CACHE_BOOKKEEPING): re-scored from the cache,
        # an unchanged verdict is left as it was written, flags included.
        cached_calls=cached,
        cached=bool(replies) and cached == len(replies),
    )
    if not feedback.endswith("."):
        feedback += "."
    return Verdict(score, passed, metrics, feedback)


def _no_judge(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """Scored outside the pipeline, llm_judge has no judge to ask: an error verdict."""
    message = "llm_judge is scored by the evaluation pipeline, which asks the judge"
    return Verdict(0.0, False, {"error": message, "judge_error": message}, message + ".")


def _string(name: str, help: str, default: Any = None, schema: dict | None = None) -> Param:
    return Param(name, "string", default, help, schema=schema)


def _price(name: str, side: str) -> Param:
    help = f"price per 1M {side} tokens (default: the connection's)"
    return Param(name, "number", None, help, minimum=0.0)


LLM_JUDGE = Evaluator(
    name="llm_judge",
    version="1",
    description=(
        "An LLM grades the answer against the case with a rubric, through an openai: endpoint "
        "or a saved connection (its rate limit, headers and prices). The judge replies in JSON "
        "(JSON mode); its reasoning is the feedback. Replies are cached: the same judge, "
        "prompt and parameters are never asked twice (re-scoring costs nothing)."
    ),
    expects="any output; the rubric reads input_data, ground_truth and output_data",
    passed_when="mean judge score (pass_fail 0/1, 1-5 as (v-1)/4, 0-10 as v/10) >= threshold",
    params=(
        _string("connection", "a saved openai connection's name (or give endpoint and model)"),
        _string(
            "endpoint",
            "openai:<base URL> of the judge, without a connection",
            schema={"anyOf": [{"const": ""}, text(pattern=f"^(?:openai:)?{URL}$")]},
        ),
        _string("model", "the judge model (default: the connection's)"),
        _string(
            "rubric",
            "correctness, faithfulness, helpfulness, pass_fail, or a Jinja2 template over "
            "input_data, ground_truth, output_data",
            "correctness",
            schema=rubric_schema(),
        ),
        _string("scale", "pass_fail, 1-5 or 0-10", "pass_fail", schema={"enum": list(SCALES)}),
        threshold_param(0.5),
        Param("repeats", "integer", 1, "ask n times; score = mean", minimum=1, maximum=10),
        Param(
            "params",
            "JSON object",
            {},
            "merged into each request, e.g. temperature",
            schema={"allOf": [json_object(), {"not": {"anyOf": RESERVED_KEYS}}]},
        ),
        _string(
            "rate_limit",
            "N/second|minute|hour over all evaluations asking this judge",
            schema={"anyOf": [{"const": ""}, {"type": "string", "pattern": RATE}]},
        ),
        Param("concurrency", "integer", 32, "judge calls at once", minimum=1, maximum=256),
        Param("timeout", "number", 60.0, "seconds per call", minimum=1.0, maximum=3600.0),
        _price("input_price_per_million", "input"),
        _price("output_price_per_million", "output"),
        Param("cache", "boolean", True, "false: ask again and replace the cached replies"),
    ),
    example=Example(
        {"text": "A spider has 8 legs."},
        {"text": "8"},
        {"endpoint": "openai:http://localhost:11434/v1", "model": "llama3", "scale": "1-5"},
        judge_replies=('{"reasoning": "It says 8 legs, as the reference does.", "score": 5}',),
    ),
    score=_no_judge,
    check_params=check_judge_params,
    params_rules=JUDGE_RULES,
    judged=True,
)

EVALUATORS = [LLM_JUDGE]
