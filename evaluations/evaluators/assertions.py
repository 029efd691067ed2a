"""Per-case assertions (as promptfoo's ``assert``): the ground truth carries its own checks.

The list's shape rule is :func:`cases.ground_truth.assertion_errors`, shared with the case editor;
a malformed list is a ground-truth error verdict (run_evaluator), never a raise. ``llm_rubric``
items need a judge: without one they are skipped (listed in ``metrics.skipped``, left out of
the weighted mean), not failed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from cases.ground_truth import assertion_errors
from cases.shapes import ShapeError, coerce_number, coerce_text

from .base import (
    Evaluator,
    EvaluatorConfigError,
    Example,
    GroundTruthError,
    Param,
    Verdict,
    quote,
    threshold_param,
)
from .judge import LLM_JUDGE
from .params_schema import params_object
from .structured import _canonical, _validator, check_schema, json_equal
from .text import compile_pattern

_FIRST_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _text(output: Any) -> str:
    """The output's text; a non-text output is matched as its JSON text."""
    try:
        return coerce_text(output)
    except ShapeError:
        pass
    try:
        return json.dumps(output, sort_keys=True, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        raise ShapeError("the output is nested too deeply to be read as text") from None


def _json_value(output: Any) -> Any:
    """The JSON value a schema checks: a text output that parses as JSON is parsed."""
    if type(output) is dict and set(output) == {"text"} and type(output["text"]) is str:
        output = output["text"]
    if type(output) is str:
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


def _number_in(output: Any) -> float | None:
    """A number output ({"value": n} or n), else the first number written in the text."""
    try:
        return coerce_number(output)
    except ShapeError:
        match = _FIRST_NUMBER.search(_text(output))
        if match is None:
            return None
        value = float(match.group(0))
        return value if math.isfinite(value) else None


def _check(kind: str, value: Any, item: Mapping[str, Any], output: Any) -> tuple[bool, str]:
    """(passed, why it failed) for one assertion."""
    if kind == "contains":
        return value in _text(output), f"lacks {quote(value)}"
    if kind == "icontains":
        return value.casefold() in _text(output).casefold(), f"lacks {quote(value)} (any case)"
    if kind == "not_contains":
        return value not in _text(output), f"contains {quote(value)}"
    if kind == "regex":
        return compile_pattern(value, False).search(_text(output)) is not None, (
            f"does not match /{value}/"
        )
    if kind == "equals":
        if type(value) is str:
            return _text(output) == value, f"does not equal {quote(value)}"
        return json_equal(output, value), "does not equal the expected JSON value"
    if kind == "json_schema":
        try:
            check_schema(value)
        except ValueError as exc:
            raise GroundTruthError(f'json_schema "value" {exc}') from None
        error = next(_validator(_canonical(value)).iter_errors(_json_value(output)), None)
        if error is None:
            return True, ""
        return False, f"is not valid against the schema ({error.message[:120]})"
    # numeric
    tolerance = float(item.get("tolerance", 0))
    number = _number_in(output)
    if number is None:
        return False, "holds no number"
    return abs(number - value) <= tolerance, f"is {number:g}, not {value:g} ± {tolerance:g}"


def assertions(
    output: Any,
    truth: Any,
    params: Mapping[str, Any],
    rubrics: Mapping[int, tuple[bool, str, str | None]] | None = None,
) -> Verdict:
    """The verdict; ``rubrics`` are the judged llm_rubric items by position, (passed, the
    judge's reasoning, a judge error or None), from the judging stage (evaluations.judging)
    when the ``judge`` parameter is set. Without them llm_rubric items are skipped."""
    if type(truth) is not dict or "assert" not in truth:
        raise GroundTruthError('missing key "assert" (a list of {"type", "value"} objects)')
    items = truth["assert"]
    errors = assertion_errors(items)
    if errors:
        raise GroundTruthError("; ".join(errors))
    results, failed, skipped, judged = [], [], [], []
    total = earned = 0.0
    for i, item in enumerate(items):
        kind, value = item["type"], item["value"]
        weight = float(item.get("weight", 1))
        label = f"#{i + 1} {kind}"
        if kind == "llm_rubric" and (rubrics is None or i not in rubrics):
            skipped.append(label)  # needs a judge: the judge parameter
            results.append({"type": kind, "passed": None, "skipped": True, "weight": weight})
            continue
        if kind == "llm_rubric":
            passed, reasoning, judge_error = rubrics[i]
            why = f"fails the rubric ({judge_error or reasoning})"
            judged.append({"item": i + 1, "reasoning": reasoning, "judge_error": judge_error})
        else:
            passed, why = _check(kind, value, item, output)
        total += weight
        earned += weight if passed else 0.0
        results.append({"type": kind, "passed": passed, "weight": weight})
        if not passed:
            failed.append(f"{label}: output {why}")
    metrics: dict[str, Any] = {"assertions": results, "failed": failed, "skipped": skipped}
    if judged:
        metrics["judged"] = judged
        if errors := [j["judge_error"] for j in judged if j["judge_error"]]:
            metrics["judge_error"] = errors[0] if len(errors) == 1 else errors
    if total <= 0:
        message = "no assertion could be scored" + (
            " (llm_rubric needs a judge)" if skipped else " (every weight is 0)"
        )
        return Verdict(0.0, False, {**metrics, "error": message}, message[0].upper() + message[1:])
    score = earned / total
    passed = score >= params["threshold"]
    if failed:
        feedback = f"{len(failed)} of {len(results) - len(skipped)} assertions failed: "
        feedback += "; ".join(failed) + "."
    else:
        feedback = f"All {len(results) - len(skipped)} assertions passed."
    if skipped:
        feedback += f" Skipped without a judge: {', '.join(skipped)}."
    return Verdict(score, passed, metrics, feedback)


RUBRIC_JUDGE = {"rubric": "pass_fail", "scale": "pass_fail"}


def rubric_judge_params(judge: Mapping[str, Any]) -> dict[str, Any]:
    """The llm_judge parameters that judge llm_rubric items (each a pass/fail criterion)."""
    return LLM_JUDGE.validate_params({**judge, **RUBRIC_JUDGE})


def _check_judge(judge: Any) -> None:
    unknown = sorted(set(judge) & {"rubric", "scale"})
    if unknown:
        raise ValueError(f'may not set "{unknown[0]}" (an llm_rubric item is pass/fail)')
    try:
        rubric_judge_params(judge)
    except EvaluatorConfigError as error:
        raise ValueError(f"is not a judge: {str(error).removeprefix('llm_judge: ')}") from None


EVALUATORS = [
    Evaluator(
        name="assertions",
        version="1",
        description=(
            "Weighted mean of the case's own checks, the ground truth's \"assert\" list "
            "(items {type, value, weight?}; types contains, not_contains, icontains, regex "
            "(re.search), equals, json_schema, numeric (tolerance, default 0), llm_rubric). "
            "Feedback names each failed assertion; llm_rubric items are judged pass/fail by "
            "the LLM judge of the judge parameter (as llm_judge asks), else skipped (metrics."
            "skipped) and left out of the mean."
        ),
        expects=(
            'output {"text": str} or a string (other outputs are matched as their JSON text; '
            "json_schema parses a text that is JSON; numeric takes a number or the first number "
            'in the text); ground truth {"assert": [...]}'
        ),
        passed_when="score >= threshold (by default: every scored assertion holds)",
        params=(
            threshold_param(1.0),
            Param(
                "judge",
                "JSON object",
                None,
                "llm_judge parameters (connection, or endpoint and model; params, prices, ...) "
                "that judge llm_rubric items as pass/fail criteria; without it they are skipped",
                check=_check_judge,
                schema=params_object(LLM_JUDGE, without=RUBRIC_JUDGE),
            ),
        ),
        example=Example(
            {"text": "A spider has 8 legs."},
            {
                "assert": [
                    {"type": "contains", "value": "8"},
                    {"type": "not_contains", "value": "insect"},
                    {"type": "numeric", "value": 8, "tolerance": 0, "weight": 2},
                ]
            },
        ),
        score=assertions,
    ),
]
