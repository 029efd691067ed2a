"""The run report's ``judging`` block: what the LLM judge behind the run's verdicts took.

Read in one statement from the judged verdicts' own metrics
(evaluations.evaluators.judge.judged_verdict): every judge call behind the run's current
verdicts, their tokens and cost (at the prices of the time each was asked), and the calls'
latency percentiles; and from the chunks' tallies (evaluations.judging.tallies): how many
calls and verdicts the latest scoring read from the judge cache instead of asking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evaluations.evaluators import REGISTRY
from evaluations.reports.common import fetch
from runs.models import ModelRun

_SQL = """
WITH judged AS (
    SELECT e.metrics AS m FROM evaluations e JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = %(run)s AND e.evaluator_type = ANY(%(names)s) AND e.metrics ? 'judge'
), tallied AS (
    SELECT coalesce(sum(cached_calls), 0)::bigint AS calls,
           coalesce(sum(cached_verdicts), 0)::bigint AS verdicts, sum(cached_cost) AS cost
    FROM judging_tallies WHERE run_id = %(run)s AND evaluator_type = ANY(%(names)s)
)
SELECT count(*),
       coalesce(sum((m->>'calls')::bigint), 0)::bigint,
       count(*) FILTER (WHERE m ? 'judge_error'),
       sum((m->>'input_tokens')::bigint)::bigint,
       sum((m->>'output_tokens')::bigint)::bigint,
       sum((m->>'cost')::float8),
       (SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY l::float8)
        FROM judged j, jsonb_array_elements_text(j.m->'latency_ms') l WHERE l IS NOT NULL),
       (SELECT calls FROM tallied), (SELECT verdicts FROM tallied), (SELECT cost FROM tallied)
FROM judged
"""


def judged_names() -> list[str]:
    """The evaluators whose verdicts may ask a judge: llm_judge, and assertions (with a judge
    for its llm_rubric items; only its verdicts that asked one are counted)."""
    return [name for name, evaluator in REGISTRY.items() if evaluator.judged] + ["assertions"]


def judging_block(run: ModelRun, evaluators: Mapping[str, Any]) -> dict | None:
    """``{"verdicts", "calls", "asked", "cached", "verdicts_from_cache", "errors", "tokens",
    "input_tokens", "output_tokens", "cost", "cost_from_cache", "latency_ms": {"p50",
    "p95"}}``, or None when no verdict of the run was judged. ``cached`` counts the calls and
    ``verdicts_from_cache`` the verdicts (every call of which) the latest scoring read from
    the judge cache. ``cost`` is what the judge calls behind the verdicts cost when they were
    asked (null without prices); ``cost_from_cache`` the part the latest scoring read from the
    cache, so did not pay again. ``evaluators``: the run's verdict counts by evaluator (no
    query at all for a run no judge scored)."""
    names = [name for name in judged_names() if name in evaluators]
    if not names:
        return None
    row = fetch(_SQL, {"run": run.pk, "names": names})[0]
    verdicts, calls, errors, inputs, outputs, cost, latency, cached, from_cache, cached_cost = row
    if not verdicts:
        return None
    # A tally outlives verdicts deleted since (a replaced response's): never more than there are.
    cached, from_cache = min(cached, calls), min(from_cache, verdicts)
    tokens = None if inputs is None and outputs is None else (inputs or 0) + (outputs or 0)
    p50, p95 = latency or (None, None)
    return {
        "verdicts": verdicts,
        "calls": calls,
        "asked": calls - cached,
        "cached": cached,
        "verdicts_from_cache": from_cache,
        "errors": errors,
        "tokens": tokens,
        "input_tokens": inputs,
        "output_tokens": outputs,
        "cost": cost,
        "cost_from_cache": None if cost is None else min(cached_cost or 0.0, cost),
        "latency_ms": {"p50": p50, "p95": p95},
    }
