"""The registry and the calls the pipeline, CLI and pages make into it."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cases.shapes import ShapeError
from mleval_site import jsonsafe
from runs.replies import redacted

from . import (
    assertions,
    classification,
    detection,
    judge,
    numeric,
    ranking,
    semantic,
    structured,
    text,
)
from .base import Evaluator, EvaluatorConfigError, ExtraMissing, GroundTruthError, Verdict

logger = logging.getLogger(__name__)

REGISTRY: dict[str, Evaluator] = {
    evaluator.name: evaluator
    for module in (
        classification,
        numeric,
        text,
        structured,
        detection,
        ranking,
        assertions,
        judge,
        semantic,
    )
    for evaluator in module.EVALUATORS
}

DEFAULT_EVALUATORS: dict[str, str] = {
    "classification": "label_match",
    "multilabel": "multilabel_f1",
    "regression": "numeric_tolerance",
    "text": "text_normalized_match",
    "bounding_boxes": "iou",
    "ranking": "ndcg_at_k",
    "forecast": "forecast_error",
    "structured": "exact_match",
}
#: The evaluator for output types without a default of their own.
FALLBACK_EVALUATOR = "exact_match"


def default_evaluator_for(output_type: str) -> str:
    """The evaluator a run uses when the user names none; FALLBACK_EVALUATOR for other types."""
    return DEFAULT_EVALUATORS.get(output_type, FALLBACK_EVALUATOR)


def get_evaluator(name: str) -> Evaluator:
    """The registered evaluator, or EvaluatorConfigError listing the known names."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(REGISTRY))
        raise EvaluatorConfigError(f"unknown evaluator {name!r} (known: {known})") from None


def installed_evaluators() -> dict[str, Evaluator]:
    """The registry less the evaluators whose optional extra this install lacks (they are
    listed, and refused with the install line when chosen)."""
    usable = {}
    for name, evaluator in REGISTRY.items():
        try:
            validate_params(name, evaluator.example.params)
        except ExtraMissing:
            continue
        usable[name] = evaluator
    return usable


def validate_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters with defaults filled in, types coerced and ranges checked.

    Called once before scoring starts, so run_evaluator can trust what it gets.
    Idempotent: validating validated parameters returns them unchanged.
    """
    return get_evaluator(name).validate_params(params)


@dataclass(frozen=True, slots=True)
class EvaluatorSpec:
    """An evaluator chosen for a run, with validated parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


def parse_evaluator_spec(spec: str) -> EvaluatorSpec:
    """Parse the CLI form ``NAME[:JSON_PARAMS]``, e.g. ``iou:{"iou_threshold": 0.75}``.

    The parameters are validated here, so a typo fails before any work starts.
    """
    name, sep, raw = spec.partition(":")
    name = name.strip()
    if not name:
        raise EvaluatorConfigError(f"evaluator spec {spec!r} has no evaluator name")
    params: Any = {}
    if sep and raw.strip():
        try:
            params = jsonsafe.checked_loads(raw)
        except json.JSONDecodeError as exc:
            raise EvaluatorConfigError(
                f"parameters of {name} are not valid JSON ({exc.msg} at column {exc.colno} "
                f"of {raw!r})"
            ) from None
        except ValueError as exc:  # jsonsafe: NaN, 1e400, a NUL, nesting past its limit
            raise EvaluatorConfigError(f"parameters of {name}: {exc}") from None
        if not isinstance(params, dict):
            raise EvaluatorConfigError(f"parameters of {name} must be a JSON object, got {raw!r}")
    return EvaluatorSpec(name, validate_params(name, params))


def _error_verdict(message: str, feedback: str, **flags: bool) -> Verdict:
    return Verdict(0.0, False, {"error": message, **flags}, feedback)


def _sentence(prefix: str, message: str) -> str:
    sentence = f"{prefix}: {message}"
    return sentence if sentence.endswith(".") else sentence + "."


def run_evaluator(
    name: str,
    output_data: Any,
    ground_truth: Any,
    params: Mapping[str, Any] | None = None,
    *,
    score: Callable[[Any, Any, Mapping[str, Any]], Verdict] | None = None,
) -> Verdict:
    """Score one response. Never raises for any output or ground truth.

    ``score`` replaces the evaluator's scoring function (the judging stage passes the
    assertions evaluator with its judged llm_rubric items), under the same guards.

    ``params`` must come from validate_params (None means the defaults; an
    evaluator with a required parameter then fails with EvaluatorConfigError).
    A malformed output gives score 0 and metrics.error; a malformed ground truth
    the same plus metrics.ground_truth_error = true. metrics always records
    evaluator_version and the params used.
    """
    evaluator = get_evaluator(name)
    if params is None:
        params = evaluator.default_params
        if len(params) != len(evaluator.params):
            params = evaluator.validate_params(None)  # raises: a parameter is required
    try:
        verdict = (score or evaluator.score)(output_data, ground_truth, params)
    except GroundTruthError as exc:
        message = str(exc)
        verdict = _error_verdict(
            message, _sentence("Ground truth is malformed", message), ground_truth_error=True
        )
    except ShapeError as exc:
        message = str(exc)
        verdict = _error_verdict(message, _sentence("Output is malformed", message))
    except Exception as exc:  # a bug or a pathological input must not stop a run
        logger.exception("evaluator %s failed", name)
        message = f"{type(exc).__name__}: {exc}"[:500]
        verdict = _error_verdict(
            message,
            _sentence(f"Evaluator {name} could not score this output", message),
            internal_error=True,
        )
    metrics = verdict.metrics
    metrics["evaluator_version"] = evaluator.version
    metrics["params"] = params
    score = verdict.score
    if not (0.0 <= score <= 1.0) or type(score) is not float:
        score = float(score) if math.isfinite(score) else 0.0
        score = min(1.0, max(0.0, score))
        return Verdict(score, verdict.passed, metrics, verdict.feedback)
    return verdict


def failed_call_verdict(error_message: str) -> Verdict:
    """The verdict for a response whose model call failed: there is nothing to score. It keeps
    the message without the reply's excerpt (runs.replies): reports are read by every role."""
    error_message = redacted(error_message)
    return Verdict(
        0.0,
        False,
        {"error": error_message, "call_failed": True},
        _sentence("The model call failed", error_message or "no error message"),
    )
