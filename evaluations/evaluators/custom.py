"""A team's own evaluators, registered beside the built-ins with the same contract.

Two sources, loaded once at start-up (EvaluationsConfig.ready): the setting
``MLEVAL_EVALUATORS`` (dotted paths; a bad one stops start-up, it is this site's own
configuration) and the entry point group ``mleval.evaluators`` of installed packages (a broken
one is logged and skipped, so an unrelated package cannot take the site down). A path or entry
point names an :class:`Evaluator` (parameters validated like a built-in's), a list of them, or a
plain function ``(output_data, ground_truth, params) -> Verdict | {"score", "passed",
"metrics"?, "feedback"?}`` registered under its ``__name__`` with no parameters.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from .base import Evaluator, EvaluatorConfigError, Example, Verdict
from .registry import REGISTRY

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mleval.evaluators"
# evaluator_type is a 100-character column; "human" is the graders' verdicts.
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,99}")
RESERVED = frozenset({"human"})


def _import(path: str) -> Any:
    module_name, _, attribute = path.strip().rpartition(".")
    if not module_name:
        raise EvaluatorConfigError(f"{path!r} is not a dotted path (package.module.name)")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise EvaluatorConfigError(f"cannot import {path!r}: {exc}") from None


def _result_as_verdict(result: Any) -> Verdict:
    if isinstance(result, Verdict):
        return result
    if not isinstance(result, Mapping) or "score" not in result or "passed" not in result:
        raise TypeError(f"must return a Verdict or {{score, passed, ...}}, got {result!r}"[:300])
    metrics = result.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise TypeError("metrics must be a JSON object")
    return Verdict(
        float(result["score"]), bool(result["passed"]), metrics, str(result.get("feedback", ""))
    )


def from_function(function: Callable[..., Any], origin: str) -> Evaluator:
    """A plain scoring function as an Evaluator without parameters."""

    def score(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
        return _result_as_verdict(function(output, truth, params))

    score.__wrapped__ = function  # type: ignore[attr-defined]  # lets register see a reload

    doc = (function.__doc__ or "").strip()
    return Evaluator(
        name=getattr(function, "__name__", ""),
        version=str(getattr(function, "version", "1")),
        description=doc or f"Custom evaluator from {origin}.",
        expects=f"custom ({origin})",
        passed_when="the function says so",
        params=(),
        example=getattr(function, "example", Example(None, None)),
        score=score,
    )


def evaluators_from(obj: Any, origin: str) -> list[Evaluator]:
    """The evaluators a dotted path or entry point names."""
    if isinstance(obj, Evaluator):
        found = [obj]
    elif isinstance(obj, list | tuple):
        found = [e for item in obj for e in evaluators_from(item, origin)]
    elif callable(obj):
        found = [from_function(obj, origin)]
    else:
        raise EvaluatorConfigError(
            f"{origin} names {type(obj).__name__}, not an Evaluator, a list of them or a function"
        )
    for evaluator in found:
        if not _NAME.fullmatch(evaluator.name or "") or evaluator.name in RESERVED:
            raise EvaluatorConfigError(
                f"{origin}: {evaluator.name!r} is not a usable evaluator name "
                "(lower-case letters, digits, _ . -; at most 100 characters; not 'human')"
            )
    return found


def register(evaluator: Evaluator, origin: str) -> None:
    """Add one evaluator; a name already taken by another evaluator is refused."""
    existing = REGISTRY.get(evaluator.name)
    source = getattr(evaluator.score, "__wrapped__", evaluator)
    if existing is not None and getattr(existing.score, "__wrapped__", existing) is not source:
        raise EvaluatorConfigError(
            f"{origin}: an evaluator named {evaluator.name!r} is already registered"
        )
    REGISTRY[evaluator.name] = evaluator


def load_custom_evaluators(paths: Iterable[str], *, group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Register the setting's evaluators (errors raise) and the entry points' (errors logged).

    Returns the registered names. Loading twice registers nothing new.
    """
    names = []
    for path in paths:
        if path.strip():
            for evaluator in evaluators_from(_import(path), f"MLEVAL_EVALUATORS {path!r}"):
                register(evaluator, f"MLEVAL_EVALUATORS {path!r}")
                names.append(evaluator.name)
    for point in entry_points(group=group):
        origin = f"entry point {point.name} = {point.value}"
        try:
            found = evaluators_from(point.load(), origin)
            for evaluator in found:
                register(evaluator, origin)
        except Exception:  # a broken package must not stop the site
            logger.exception("custom evaluator %s not registered", origin)
            continue
        names.extend(e.name for e in found)
    return names
