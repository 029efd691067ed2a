"""The ``/evaluators/`` page's content, built from what each evaluator and the registry own.

Every evaluator carries its own documentation (description, what it expects, when a response
passes, its parameters with help text and limits, a worked example); the registry knows the
default evaluator per output type. This module turns that into display-ready text, with each
worked example's verdict as the code gives it (stored for the built-ins, examples.py, so the
page imports no scoring library; the tests check the stored verdicts against live scoring).
The view only renders the result.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from .base import Evaluator, EvaluatorConfigError, Param, Verdict
from .examples import stored_or_live
from .judge import JudgeReply, judged_verdict
from .registry import DEFAULT_EVALUATORS, FALLBACK_EVALUATOR, REGISTRY


@dataclass(frozen=True, slots=True)
class ParamDoc:
    """One row of an evaluator's parameter table."""

    name: str
    type: str
    default: str  # JSON, or "required"
    range: str  # "0 – 1", "≥ 1", "≤ 5" or "" when unbounded
    help: str

    @classmethod
    def of(cls, param: Param) -> ParamDoc:
        default = "required" if param.required else json.dumps(param.default)
        return cls(param.name, param.type, default, _range(param), param.help)


@dataclass(frozen=True, slots=True)
class EvaluatorDoc:
    """One evaluator's section of the page: its own description plus its example, scored."""

    evaluator: Evaluator
    default_for: tuple[str, ...]
    params: tuple[ParamDoc, ...]
    example_output: str
    example_ground_truth: str
    example_params: str  # compact JSON, "" when the example uses the defaults
    verdict: Verdict
    verdict_metrics: str
    cli_flag: str  # the evaluate_run flag that reproduces the example


@dataclass(frozen=True, slots=True)
class EvaluatorsPage:
    """Everything ``/evaluators/`` shows."""

    defaults: tuple[tuple[str, str], ...]  # (output type, default evaluator), sorted
    fallback: str  # the evaluator for output types without a default
    evaluators: tuple[EvaluatorDoc, ...]


@functools.cache
def evaluators_page() -> EvaluatorsPage:
    """The page's content. Cached: it depends only on the code (the registry and the
    evaluators' pure scoring functions), so each process scores the examples once."""
    default_for: dict[str, list[str]] = {}
    for output_type, name in DEFAULT_EVALUATORS.items():
        default_for.setdefault(name, []).append(output_type)
    return EvaluatorsPage(
        defaults=tuple(sorted(DEFAULT_EVALUATORS.items())),
        fallback=FALLBACK_EVALUATOR,
        evaluators=tuple(
            _document(evaluator, tuple(default_for.get(name, ())))
            for name, evaluator in REGISTRY.items()
        ),
    )


def _document(evaluator: Evaluator, default_for: tuple[str, ...]) -> EvaluatorDoc:
    example = evaluator.example
    verdict = example_verdict(evaluator)
    compact = json.dumps(example.params) if example.params else ""
    flag = f"{evaluator.name}:{compact}" if compact else evaluator.name
    return EvaluatorDoc(
        evaluator=evaluator,
        default_for=default_for,
        params=tuple(ParamDoc.of(param) for param in evaluator.params),
        example_output=pretty_json(example.output),
        example_ground_truth=pretty_json(example.ground_truth),
        example_params=compact,
        verdict=verdict,
        verdict_metrics=pretty_json(verdict.metrics),
        cli_flag=f"--evaluator {shlex.quote(flag)}",
    )


def example_verdict(evaluator: Evaluator) -> Verdict:
    """The verdict of an evaluator's worked example; a judged one's from the judge replies
    its example scripts (the page asks no model). An evaluator whose library is an extra not
    installed here (fuzzy_ratio) gets the sentence saying how to install it."""
    example = evaluator.example
    try:
        params = evaluator.validate_params(example.params)
    except EvaluatorConfigError as exc:
        return Verdict(0.0, False, {"error": str(exc)}, f"Not available here: {exc}.")
    if not evaluator.judged:
        return stored_or_live(evaluator, params)
    replies = [
        JudgeReply(content, input_tokens=120, output_tokens=20, latency_ms=850.0)
        for content in example.judge_replies
    ]
    verdict = judged_verdict(
        params, replies, {"endpoint": params["endpoint"], "model": params["model"]}
    )
    verdict.metrics.update(evaluator_version=evaluator.version, params=params)
    return verdict


def pretty_json(value: Any) -> str:
    """Indented JSON with arrays of plain values kept on one line (bounding boxes, series)."""
    text = json.dumps(value, indent=1, ensure_ascii=False)
    return re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m[1]) + "]", text
    )


def _range(param: Param) -> str:
    low, high = param.minimum, param.maximum
    if low is not None and high is not None:
        return f"{low:g} – {high:g}"
    if low is not None:
        return f"≥ {low:g}"
    return f"≤ {high:g}" if high is not None else ""
