"""Which evaluators a run gets: named ones, the run config's, or the defaults per output type.

Every name and parameter is validated here, before anything is queued or written; a judged
evaluator (llm_judge) also has its judge checked (its connection, the allowed hosts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cases.shapes import canonical_label
from evaluations.chunk_rows import pinned_output_types
from evaluations.evaluators import (
    EvaluatorConfigError,
    EvaluatorConflict,
    EvaluatorSpec,
    default_evaluator_for,
    parse_evaluator_spec,
    validate_params,
)
from evaluations.reports.extensions import verdict_sources
from runs.models import ModelRun


@dataclass(frozen=True, slots=True)
class PlannedEvaluator:
    """An evaluator chosen for a run: validated parameters and the output types it scores.

    ``output_types`` is None for an evaluator the user named (it scores every response), and
    the output types it is the default for otherwise (a run may mix output types).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    output_types: frozenset[str] | None = None

    def as_json(self) -> dict[str, Any]:
        types = None if self.output_types is None else sorted(self.output_types)
        return {"name": self.name, "params": self.params, "output_types": types}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedEvaluator:
        """Rebuild (and validate again) an evaluator stored by :meth:`as_json`."""
        types = data.get("output_types")
        return cls(
            data["name"],
            validate_params(data["name"], data.get("params")),
            None if types is None else frozenset(types),
        )


SpecLike = EvaluatorSpec | PlannedEvaluator | str | Mapping[str, Any]


def _as_spec(spec: SpecLike) -> EvaluatorSpec:
    """One evaluator named by the user, validated: ``"iou:{...}"``, ``{"name", "params"}``."""
    if isinstance(spec, str):
        return parse_evaluator_spec(spec)
    if isinstance(spec, EvaluatorSpec | PlannedEvaluator):
        return EvaluatorSpec(spec.name, validate_params(spec.name, spec.params))
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"name", "params"})
        if unknown:
            raise EvaluatorConfigError(
                f"unknown key {unknown[0]!r} in evaluator {spec.get('name')!r} "
                '(accepted: "name", "params")'
            )
        if "name" not in spec:
            raise EvaluatorConfigError(f'evaluator {dict(spec)!r} has no "name"')
        return EvaluatorSpec(spec["name"], validate_params(spec["name"], spec.get("params")))
    raise EvaluatorConfigError(
        f'an evaluator is a name, "NAME:JSON_PARAMS" or {{"name", "params"}}, got {spec!r}'
    )


def _refuse_recorded(spec: SpecLike, where: str) -> None:
    """A verdict another app records (``human``: the graders') is not an evaluator to run:
    say so, rather than "unknown evaluator"."""
    if isinstance(spec, str):
        name = spec.split(":", 1)[0]
    else:
        name = spec.get("name") if isinstance(spec, Mapping) else None
    if any(source["name"] == name for source in verdict_sources()):
        raise EvaluatorConfigError(
            f"{where}: {name} verdicts are recorded by people on the grading pages, not "
            "computed, so they cannot be scored: create a grading task instead"
        )


def _named(specs: Iterable[SpecLike], where: str) -> list[PlannedEvaluator]:
    planned: list[PlannedEvaluator] = []
    for spec in specs:
        _refuse_recorded(spec, where)
        try:
            validated = _as_spec(spec)
        except EvaluatorConfigError as exc:
            raise EvaluatorConfigError(f"{where}: {exc}") from None
        if any(p.name == validated.name for p in planned):
            # One verdict per (response, evaluator_type): a second one would overwrite the first.
            raise EvaluatorConflict(
                f"{where}: evaluator {validated.name} is named twice; a response keeps one "
                "verdict per evaluator"
            )
        # An already resolved evaluator keeps the output types it is restricted to.
        types = spec.output_types if isinstance(spec, PlannedEvaluator) else None
        planned.append(PlannedEvaluator(validated.name, validated.params, types))
    return planned


def run_output_types(run: ModelRun) -> list[str]:
    """The output types of the cases the run has responses for (for a run on a golden-set
    version, the pinned revisions')."""
    return pinned_output_types(run.pk, run.version_id)


def resolve_evaluators(
    run: ModelRun, specs: Iterable[SpecLike] | None = None
) -> list[PlannedEvaluator]:
    """The evaluators to apply to ``run``, validated; raises EvaluatorConfigError naming the
    evaluator or parameter at fault, before anything is scored.

    Explicit ``specs`` win, then ``run.config["evaluators"]`` (the same forms: names,
    ``"NAME:JSON"`` strings or ``{"name", "params"}`` objects), then the default per output type.
    Already resolved :class:`PlannedEvaluator` specs pass through (validated again).
    """
    specs = list(specs) if specs is not None else []
    if specs:
        return _with_decision(run, _checked(_named(specs, "evaluator")))
    configured = (run.config or {}).get("evaluators") if isinstance(run.config, dict) else None
    if configured:
        if not isinstance(configured, list):
            raise EvaluatorConfigError(
                f'run config "evaluators" must be a list, got {json.dumps(configured)[:80]}'
            )
        return _with_decision(run, _checked(_named(configured, 'run config "evaluators"')))
    by_default: dict[str, set[str]] = {}
    for output_type in run_output_types(run):
        by_default.setdefault(default_evaluator_for(output_type), set()).add(output_type)
    return _with_decision(
        run,
        [
            PlannedEvaluator(name, validate_params(name, None), frozenset(types))
            for name, types in sorted(by_default.items())
        ],
    )


def _with_decision(run: ModelRun, planned: list[PlannedEvaluator]) -> list[PlannedEvaluator]:
    """label_match takes the run config's ``positive_label`` and ``decision_threshold`` (the
    threshold explorer stores them there) unless its parameters name their own."""
    config = run.config if isinstance(run.config, dict) else {}
    decision = {
        "positive_label": canonical_label(config.get("positive_label")),
        "decision_threshold": config.get("decision_threshold"),
    }
    if decision["decision_threshold"] is None:
        return planned
    result = []
    for evaluator in planned:
        if evaluator.name == "label_match" and evaluator.params.get("decision_threshold") is None:
            params = {**evaluator.params, **decision}
            evaluator = PlannedEvaluator(
                evaluator.name, validate_params(evaluator.name, params), evaluator.output_types
            )
        result.append(evaluator)
    return result


def _checked(planned: list[PlannedEvaluator]) -> list[PlannedEvaluator]:
    """A judged evaluator's judge must be reachable: its connection exists, the host is allowed."""
    from evaluations.judging.judges import check_judge, judge_params_of

    for evaluator in planned:
        if (params := judge_params_of(evaluator.name, evaluator.params)) is not None:
            check_judge(params)
    return planned
