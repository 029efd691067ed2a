"""The pure half of ``llm_judge``: rubrics, the judge's prompt, its reply read, repeats combined.

Not registered yet: the network half (a pipeline stage that renders the pending prompts, asks
the judge through an ``openai:`` endpoint or connection with its rate limit, and caches the
replies) is still to be built. Everything here is a pure function of JSON, so that stage only
has to move strings: :func:`judge_messages` before the call, :func:`read_reply` after it and
:func:`combine` over the repeats.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runs.endpoint_config import template

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


def judge_messages(
    rubric: str, scale: str, input_data: Any, ground_truth: Any, output_data: Any
) -> list[dict[str, str]]:
    """The chat messages asking for one verdict. The rubric renders in the connectors' Jinja2
    sandbox; ``{"text": ...}`` values are shown as their text. Raises the sandbox's errors."""
    prompt = template(rubric_source(rubric)).render(
        input_data=_shown(input_data),
        ground_truth=ground_truth if isinstance(ground_truth, dict) else _shown(ground_truth),
        output_data=_shown(output_data),
    )
    system = (
        "You are a strict, fair evaluator. Reply with one JSON object only, exactly: "
        + _FORMAT[scale]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


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
        reply = json.loads(text)
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
    sides = Counter(s >= threshold for s in scores)
    agreement = max(sides.values()) / len(scores) if scores else 0.0
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
    """Cross-parameter rules of llm_judge; ValueError with the reason."""
    if params.get("scale") not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}")
    if not params.get("connection") and not (params.get("endpoint") and params.get("model")):
        raise ValueError("give connection, or endpoint and model")
    template(rubric_source(params.get("rubric") or "correctness"))  # a syntax error fails here
