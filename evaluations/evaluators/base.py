"""The types every evaluator is built from: Verdict, Param, Evaluator.

An evaluator is a description (for the ``/evaluators/`` page and parameter
validation) plus a pure scoring function. Scoring functions may raise
:class:`~cases.shapes.ShapeError` for a malformed output and
:class:`GroundTruthError` for a malformed ground truth; ``run_evaluator`` turns
both into error verdicts, so the functions themselves stay short.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cases.shapes import ShapeError

# Longest piece of model output quoted in a feedback sentence.
QUOTE_LIMIT = 80


class EvaluatorConfigError(ValueError):
    """An unknown evaluator, unknown parameter or bad parameter value."""


class EvaluatorConflict(EvaluatorConfigError):
    """Well-formed, refused by the data or the rest of the choice: an evaluator named twice, a
    judge whose connection is not there (the API's 409: its schema cannot know them)."""


class ExtraMissing(EvaluatorConfigError):
    """The evaluator needs an optional extra (`pip install 'mleval[...]'`) this install lacks."""


class GroundTruthError(ShapeError):
    """The ground truth (curated data, not model output) has the wrong shape."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an evaluator says about one response."""

    score: float
    passed: bool
    metrics: dict[str, Any]
    feedback: str


@dataclass(frozen=True, slots=True)
class Param:
    """One evaluator parameter: its documentation and its validation."""

    name: str
    # "number", "integer", "boolean", "string", "string list", "JSON Schema" or "JSON object"
    type: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    # Extra check on the coerced value; raises ValueError with a reason.
    check: Callable[[Any], None] | None = None
    # The JSON Schema of what `check` lets through, where the type's own says more (the API's
    # schema, evaluations.evaluators.params_schema); None: the type's.
    schema: dict[str, Any] | None = None

    def coerce(self, value: Any) -> Any:
        """The validated value, or EvaluatorConfigError naming this parameter."""
        if value is None:
            if self.required:
                raise EvaluatorConfigError(f'parameter "{self.name}" is required ({self.help})')
            if self.default is None:
                return None
        try:
            value = _COERCERS[self.type](value)
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be >= {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be <= {self.maximum:g}")
            if self.check is not None:
                self.check(value)
        except (TypeError, ValueError) as exc:
            raise EvaluatorConfigError(f'parameter "{self.name}" {exc}') from None
        return value


def _as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def _as_integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, got {value!r}")
    return value


def _as_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, got {value!r}")
    return value


def _as_string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {value!r}")
    return value


def _as_string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"must be a list of strings, got {value!r}")
    return list(value)


def _as_schema(value: Any) -> dict | bool:
    if not isinstance(value, dict | bool):
        raise TypeError(f"must be a JSON Schema (an object or a boolean), got {value!r}")
    return value


def _as_object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"must be a JSON object, got {value!r}")
    return value


_COERCERS: dict[str, Callable[[Any], Any]] = {
    "number": _as_number,
    "integer": _as_integer,
    "boolean": _as_boolean,
    "string": _as_string,
    "string list": _as_string_list,
    "JSON Schema": _as_schema,
    "JSON object": _as_object,
}


def threshold_param(default: float) -> Param:
    """The usual ``threshold`` parameter: passed = score >= threshold."""
    return Param(
        "threshold",
        "number",
        default,
        "the response passes when score >= threshold",
        minimum=0.0,
        maximum=1.0,
    )


@dataclass(frozen=True, slots=True)
class Example:
    """A worked example for the documentation page (and the property tests)."""

    output: Any
    ground_truth: Any
    params: dict[str, Any] = field(default_factory=dict)
    # A judged evaluator's example: the judge's replies the page scores it with.
    judge_replies: tuple[str, ...] = ()


# output_data, ground_truth, validated params -> Verdict (without the
# evaluator_version/params bookkeeping, which run_evaluator adds).
ScoreFunction = Callable[[Any, Any, Mapping[str, Any]], Verdict]


@dataclass(frozen=True)
class Evaluator:
    """An evaluator's description and its pure scoring function."""

    name: str
    version: str
    description: str
    expects: str
    passed_when: str
    params: tuple[Param, ...]
    example: Example
    score: ScoreFunction
    # Cross-parameter checks run by validate_params after each Param.coerce.
    check_params: Callable[[dict[str, Any]], None] | None = None
    # The same rules as JSON Schema over the params object (the API's schema), if any.
    params_rules: dict[str, Any] | None = None
    # Asks an LLM judge: the pipeline's judging stage (evaluations.judging) makes its verdicts,
    # and ``score`` (no judge at hand) only says so.
    judged: bool = False
    default_params: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        defaults = {p.name: p.default for p in self.params if not p.required}
        object.__setattr__(self, "default_params", defaults)

    def validate_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Fill defaults, coerce and check every value; raise EvaluatorConfigError."""
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise EvaluatorConfigError(
                f"parameters of {self.name} must be a JSON object, got {params!r}"
            )
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            accepted = ", ".join(known) or "none"
            raise EvaluatorConfigError(
                f"unknown parameter {unknown[0]!r} for evaluator {self.name} (accepted: {accepted})"
            )
        validated = {name: p.coerce(params.get(name, p.default)) for name, p in known.items()}
        if self.check_params is not None:
            try:
                self.check_params(validated)
            except ValueError as exc:
                if isinstance(exc, EvaluatorConfigError):
                    raise
                raise EvaluatorConfigError(f"{self.name}: {exc}") from None
        return validated


def quote(text: str) -> str:
    """A short quotation of model output for a feedback sentence."""
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + "…"
    return f'"{text}"'


def finite_or_none(value: float) -> float | None:
    """JSON (and PostgreSQL jsonb) has no inf or NaN; such a metric becomes None."""
    return value if math.isfinite(value) else None


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def ground_truth(coerce: Callable[..., Any], value: Any, *args: Any) -> Any:
    """Apply a shape coercer to a ground truth, reporting failures as curation errors."""
    try:
        return coerce(value, *args)
    except ShapeError as exc:
        raise GroundTruthError(str(exc)) from None
