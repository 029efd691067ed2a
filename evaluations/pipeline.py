"""The scoring pipeline: the one place where responses become Evaluation rows.

The command ``evaluate_run``, the run page's button (through :mod:`evaluations.tasks`), the API
and ``seed_user_data`` all come here. The pure evaluators (:mod:`evaluations.evaluators`) judge
one response; this module decides which evaluators a run gets, streams the run's responses
with their test cases' ground truth in id-range chunks (never a whole run in memory), and
upserts each chunk's verdicts with one ``INSERT ... ON CONFLICT (response_id, evaluator_type)
DO UPDATE``, so scoring again replaces verdicts and never duplicates them.

Which evaluators (:func:`resolve_evaluators`): the ones named explicitly, else the run config's
``"evaluators"``, else the default of each output type among the run's cases, applied only to
the responses whose case has that output type. Named evaluators apply to every response; where
one cannot read a ground truth that is valid for its case's own output type, its verdict is
marked ``not_applicable`` rather than counted as a curation error (``ground_truth_error``, a
case a curator must fix). Every name and parameter is validated before any row is written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from cases.ground_truth import ground_truth_errors
from cases.models import TestCase
from cases.shapes import canonical_label
from evaluations.evaluators import (
    REGISTRY,
    EvaluatorConfigError,
    EvaluatorSpec,
    Verdict,
    default_evaluator_for,
    failed_call_verdict,
    parse_evaluator_spec,
    run_evaluator,
    validate_params,
)
from evaluations.models import Evaluation
from jobs.signals import wrote
from mleval_site import jsonsafe
from runs.models import ModelRun, Response

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ChunkResult",
    "EvaluationResult",
    "EvaluatorConfigError",
    "PlannedEvaluator",
    "SpecLike",
    "chunk_bounds",
    "evaluate_chunk",
    "evaluate_run",
    "resolve_evaluators",
]

# Responses per chunk: large enough that the per-statement cost vanishes, small enough that a
# chunk of long texts stays a few megabytes and a chunk task takes seconds, not minutes.
DEFAULT_CHUNK_SIZE = 5000

IdRange = tuple[int, int]  # first and last response id of a chunk, both included


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


@dataclass(slots=True)
class ChunkResult:
    """What scoring one chunk did."""

    responses: int = 0
    evaluations: int = 0
    failed_calls: int = 0  # responses whose model call had failed
    malformed_outputs: int = 0  # verdicts with metrics.error that blame the output
    curation_errors: int = 0  # verdicts with metrics.ground_truth_error
    not_applicable: int = 0  # a named evaluator that does not fit the case's output type
    by_evaluator: Counter = field(default_factory=Counter)

    def add(self, other: ChunkResult) -> None:
        self.responses += other.responses
        self.evaluations += other.evaluations
        self.failed_calls += other.failed_calls
        self.malformed_outputs += other.malformed_outputs
        self.curation_errors += other.curation_errors
        self.not_applicable += other.not_applicable
        self.by_evaluator.update(other.by_evaluator)


@dataclass(slots=True)
class EvaluationResult(ChunkResult):
    """What scoring a whole run did."""

    run_id: int = 0
    evaluators: list[PlannedEvaluator] = field(default_factory=list)
    chunks: int = 0


# ---------------------------------------------------------------------------------------------
# Choosing evaluators


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


def _named(specs: Iterable[SpecLike], where: str) -> list[PlannedEvaluator]:
    planned: list[PlannedEvaluator] = []
    for spec in specs:
        try:
            validated = _as_spec(spec)
        except EvaluatorConfigError as exc:
            raise EvaluatorConfigError(f"{where}: {exc}") from None
        if any(p.name == validated.name for p in planned):
            # One verdict per (response, evaluator_type): a second one would overwrite the first.
            raise EvaluatorConfigError(
                f"{where}: evaluator {validated.name} is named twice; a response keeps one "
                "verdict per evaluator"
            )
        # An already resolved evaluator keeps the output types it is restricted to.
        types = spec.output_types if isinstance(spec, PlannedEvaluator) else None
        planned.append(PlannedEvaluator(validated.name, validated.params, types))
    return planned


def run_output_types(run: ModelRun) -> list[str]:
    """The output types of the cases the run has responses for: for a run on a golden-set
    version, the pinned revisions' (what _FETCH_SQL scores against), not today's."""
    with connection.cursor() as cursor:
        cursor.execute(_OUTPUT_TYPES_SQL, {"run": run.pk, "version": run.version_id})
        return sorted(row[0] for row in cursor.fetchall())


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
        return _with_decision(run, _named(specs, "evaluator"))
    configured = (run.config or {}).get("evaluators") if isinstance(run.config, dict) else None
    if configured:
        if not isinstance(configured, list):
            raise EvaluatorConfigError(
                f'run config "evaluators" must be a list, got {json.dumps(configured)[:80]}'
            )
        return _with_decision(run, _named(configured, 'run config "evaluators"'))
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


# ---------------------------------------------------------------------------------------------
# Chunks


def chunk_bounds(run_id: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[tuple[int, int, int]]:
    """Split a run's responses into id ranges of ``chunk_size`` responses each.

    Returns ``(first_id, last_id, count)`` per chunk. Exact even when the run's ids are
    interleaved with other runs' (one scan of the run's ids, numbered in order).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    sql = f"""
        SELECT min(id), max(id), count(*) FROM (
            SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS bucket
            FROM {Response._meta.db_table} WHERE run_id = %s
        ) numbered GROUP BY bucket ORDER BY bucket
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [chunk_size, run_id])
        return [tuple(row) for row in cursor.fetchall()]


# A run on a golden-set version is scored against the version's ground truth: the kept
# revision when the case was edited since the freeze (%(version)s is null for other runs).
_PINNED_FROM = f"""
    FROM {Response._meta.db_table} r JOIN {TestCase._meta.db_table} c ON c.id = r.test_case_id
    LEFT JOIN version_cases vc ON vc.version_id = %(version)s AND vc.case_id = r.test_case_id
    LEFT JOIN case_revisions kr ON kr.case_id = vc.case_id AND kr.revision = vc.revision
"""


def _pinned(column: str) -> str:
    return f"CASE WHEN kr.id IS NULL THEN c.{column} ELSE kr.{column} END"


_FETCH_SQL = f"""
    SELECT r.id, r.output_data, r.error_message, {_pinned("ground_truth")}, {_pinned("output_type")}
    {_PINNED_FROM} WHERE r.run_id = %(run)s AND r.id BETWEEN %(low)s AND %(high)s
"""
_OUTPUT_TYPES_SQL = f"""
    SELECT DISTINCT {_pinned("output_type")} {_PINNED_FROM} WHERE r.run_id = %(run)s
"""

# The chunk's verdicts are COPied into a session-private staging table, then upserted with one
# statement (measured ~30% faster than one INSERT of unnest()ed arrays for 5,000-row chunks).
_STAGE = "evaluations_stage"
_STAGE_SQL = f"""
    CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
        response_id bigint, evaluator_type text, score float8, passed bool, metrics jsonb,
        feedback text
    ) ON COMMIT DELETE ROWS
"""
_UPSERT_SQL = f"""
    INSERT INTO {Evaluation._meta.db_table}
        (response_id, evaluator_type, score, passed, metrics, feedback)
    SELECT response_id, evaluator_type, score, passed, metrics, feedback FROM {_STAGE}
    ON CONFLICT (response_id, evaluator_type) DO UPDATE SET
        score = EXCLUDED.score, passed = EXCLUDED.passed, metrics = EXCLUDED.metrics,
        feedback = EXCLUDED.feedback, created_at = now()
"""

loads = json.loads


def evaluate_chunk(
    run_id: int, evaluators: Sequence[PlannedEvaluator], id_range: IdRange
) -> ChunkResult:
    """Score the run's responses with ids in ``id_range`` (both ends included) and upsert
    their verdicts in one statement. Evaluators must already be validated
    (:func:`resolve_evaluators`); a model's output never makes this raise.
    """
    result = ChunkResult()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version_id FROM model_runs WHERE id = %s", [run_id])
        version = (cursor.fetchone() or (None,))[0]
        cursor.execute(
            _FETCH_SQL,
            {"run": run_id, "version": version, "low": id_range[0], "high": id_range[1]},
        )
        rows = cursor.fetchall()
    result.responses = len(rows)
    if not rows or not evaluators:
        return result
    # Django hands jsonb over as text (its JSONField decodes it); decode each document once.
    rows = [
        (response_id, loads(output), error, loads(truth), output_type)
        for response_id, output, error, truth, output_type in rows
    ]

    verdicts: list[tuple[int, str, float, bool, str, str]] = []
    result.failed_calls = sum(1 for row in rows if row[2])
    for evaluator in evaluators:
        name, params, types = evaluator.name, evaluator.params, evaluator.output_types
        version = REGISTRY[name].version
        before = len(verdicts)
        for response_id, output, error_message, ground_truth, output_type in rows:
            if types is not None and output_type not in types:
                continue
            if error_message:
                verdict = failed_call_verdict(error_message)
                verdict.metrics["evaluator_version"] = version
                verdict.metrics["params"] = params
            else:
                verdict = run_evaluator(name, output, ground_truth, params)
                if "error" in verdict.metrics:
                    if not verdict.metrics.get("ground_truth_error"):
                        result.malformed_outputs += 1
                    elif types is None and not ground_truth_errors(output_type, ground_truth):
                        verdict = _not_applicable(verdict, name, output_type)
                        result.not_applicable += 1
                    else:
                        result.curation_errors += 1
            verdicts.append(
                (
                    response_id,
                    name,
                    verdict.score,
                    verdict.passed,
                    jsonsafe.dumps_sanitized(verdict.metrics),
                    jsonsafe.clean_text(verdict.feedback),
                )
            )
        result.by_evaluator[name] += len(verdicts) - before
    if verdicts:
        _upsert(verdicts)
    result.evaluations = len(verdicts)
    return result


def _not_applicable(verdict: Verdict, name: str, output_type: str) -> Verdict:
    """A named evaluator that cannot read a ground truth which is fine for its own output type
    (rouge_l on a classification case): not a curation error, so not listed as one."""
    metrics = {key: value for key, value in verdict.metrics.items() if key != "ground_truth_error"}
    metrics["not_applicable"] = True
    feedback = f"{name} does not apply to this case's output type {output_type}: {metrics['error']}"
    return Verdict(0.0, False, metrics, feedback if feedback.endswith(".") else feedback + ".")


def _upsert(verdicts: list[tuple[int, str, float, bool, str, str]]) -> None:
    """Insert or replace the verdicts: COPY into the staging table, then one INSERT ... ON
    CONFLICT DO UPDATE. The staging table is emptied first, as ON COMMIT only empties it when
    the outermost transaction ends (not between chunks inside a caller's transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STAGE_SQL)
        cursor.execute(f"TRUNCATE {_STAGE}")
        with cursor.cursor.copy(f"COPY {_STAGE} FROM STDIN") as copy:
            for row in verdicts:
                copy.write_row(row)
        cursor.execute(_UPSERT_SQL)


# ---------------------------------------------------------------------------------------------
# A whole run, in this process


def evaluate_run(
    run: ModelRun,
    specs: Iterable[SpecLike] | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Score every response of ``run`` in this process, chunk by chunk.

    ``specs`` as for :func:`resolve_evaluators`; they are validated before anything is
    written (EvaluatorConfigError otherwise). Each chunk is committed on its own, so a long
    run's verdicts appear as they are made and an interrupted run is finished by running it
    again (re-scoring replaces). ``progress(done, total)`` is called after each chunk with
    response counts.
    """
    evaluators = resolve_evaluators(run, specs)
    bounds = chunk_bounds(run.pk, chunk_size)
    total = sum(count for _, _, count in bounds)
    result = EvaluationResult(run_id=run.pk, evaluators=evaluators, chunks=len(bounds))
    if progress is not None:
        progress(0, total)
    for first, last, _count in bounds:
        with transaction.atomic():
            result.add(evaluate_chunk(run.pk, evaluators, (first, last)))
        if progress is not None:
            progress(result.responses, total)
    wrote({"evaluations": result.evaluations}, [run.pk], sender=evaluate_run)
    return result
