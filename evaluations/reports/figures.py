"""A run's figures, each with one home: per evaluator the count, passed, pass rate (with its
Wilson interval) and mean score; over the responses the latency percentiles, tokens, memory
and call errors.

Everything that shows one of these reads it from here: the run report (with ``detail``: the
score histograms, the breakdowns by slice, the confusion counts and which cases the run
covers, computed in the same two statements), the leaderboard (many runs, still two
statements), the run page's evaluation panel; and so the pages, JSON/CSV downloads, API and
``run_report`` / ``compare_runs`` that render those. (The comparison's pass rates are a
different figure: over the cases both runs answered, in :mod:`.comparison`.)

:func:`run_figures` is the whole of it for one run, a dict of plain numbers: storing it as a
per-run summary is storing its output. The functions take run ids and read through
:func:`.common.fetch`, so a caller inside ``reading_from_replica`` reads the replica.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cases.models import Origin
from evaluations import stats
from evaluations.models import ONE_PER_EVALUATOR
from evaluations.reports.common import (
    DOMAIN_EVALUATORS,
    SLICE_DIMENSIONS,
    TAGS_LATERAL,
    fetch,
    float_or_none,
    rate,
)
from runs.models import ModelRun

__all__ = [
    "HISTOGRAM_BINS",
    "evaluator_entry",
    "response_figures",
    "run_figures",
    "verdict_figures",
]

HISTOGRAM_BINS = 10

# --- responses -----------------------------------------------------------------------------

# Per run, in one pass over its responses. With detail, also which cases the run answered:
# human / reviewed ai-generated / unverified, and how many were edited after the run was
# registered (the report's drift warning).
_RESPONSES_SQL = """
SELECT r.run_id,
       count(*),
       count(r.latency_ms),
       avg(r.latency_ms)::float8,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.latency_ms),
       max(r.latency_ms),
       sum(r.tokens_used)::bigint,  -- NULL (unknown, shown "–") when no response said
       avg(r.tokens_used)::float8,
       avg(r.memory_mb)::float8,
       max(r.memory_mb)::float8,
       count(*) FILTER (WHERE r.error_message <> ''){cases_columns}
FROM responses r{cases_join}
WHERE r.run_id = ANY(%(runs)s)
GROUP BY r.run_id
"""
_CASES_COLUMNS = """,
       count(*) FILTER (WHERE tc.is_verified AND tc.origin = %(human)s),
       count(*) FILTER (WHERE tc.is_verified AND tc.origin <> %(human)s),
       count(*) FILTER (WHERE NOT tc.is_verified),
       count(*) FILTER (WHERE tc.updated_at > mr.created_at)"""
_CASES_JOIN = """
JOIN test_cases tc ON tc.id = r.test_case_id
JOIN model_runs mr ON mr.id = r.run_id"""
# The row of a run without responses (GROUP BY yields none).
_NO_RESPONSES = (0, 0, None, None, None, None, None, None, None, 0, 0, 0, 0, 0)


def response_figures(run_ids: Iterable[int], *, detail: bool = False) -> dict[int, dict]:
    """Per run id: ``responses``, ``latency_ms`` (count, mean, p50, p95, p99, max:
    PostgreSQL's ``percentile_cont``), ``tokens`` (total, mean), ``memory_mb`` (mean, max) and
    ``errors`` (failed calls). ``detail`` adds ``cases``: human, ai_generated_reviewed,
    unverified, edited_since_run. One query whatever the number of runs; none for none."""
    ids = list(run_ids)
    if not ids:
        return {}
    sql = _RESPONSES_SQL.format(
        cases_columns=_CASES_COLUMNS if detail else "", cases_join=_CASES_JOIN if detail else ""
    )
    rows = {row[0]: row[1:] for row in fetch(sql, {"runs": ids, "human": Origin.HUMAN})}
    result = {}
    for run_id in ids:
        (
            responses,
            latency_count,
            latency_mean,
            percentiles,
            latency_max,
            tokens_total,
            tokens_mean,
            memory_mean,
            memory_max,
            errors,
            *cases,
        ) = rows.get(run_id, _NO_RESPONSES)
        p50, p95, p99 = percentiles if percentiles else (None, None, None)
        figures: dict[str, Any] = {
            "responses": responses,
            "latency_ms": {
                "count": latency_count,
                "mean": latency_mean,
                "p50": float_or_none(p50),
                "p95": float_or_none(p95),
                "p99": float_or_none(p99),
                "max": latency_max,
            },
            "tokens": {"total": tokens_total, "mean": tokens_mean},
            "memory_mb": {"mean": memory_mean, "max": memory_max},
            "errors": errors,
        }
        if detail:
            keys = ("human", "ai_generated_reviewed", "unverified", "edited_since_run")
            figures["cases"] = dict(zip(keys, cases[:4], strict=True))
        result[run_id] = figures
    return result


# --- verdicts ------------------------------------------------------------------------------

# Per run and evaluator: count, passed, mean score (the first three aggregates, the figures'
# one definition). With detail the verdicts are joined to their cases, in the same pass: the
# score histogram (bins of 0.1, a score of 1.0 in the last bin), the breakdowns by category,
# difficulty, the case's model type and tag, and the confusion matrix (actual x predicted of
# the well-formed label_match verdicts). Tags are unnested, so a verdict appears once per tag:
# the tag set counts every row (the last three aggregates), the other sets only each verdict's
# first row (`first`); GROUPING() tells the sets apart. One scan instead of three: on a run of
# a million responses the join, not the aggregation, is what costs.
_VERDICTS_SQL = """
SELECT v.run_id, v.evaluator_type,
       count(*) FILTER (WHERE v.first),
       count(*) FILTER (WHERE v.first AND v.passed),
       avg(v.score) FILTER (WHERE v.first){detail_columns}
FROM ({rows}) v
GROUP BY {groups}
"""
_VERDICT_ROWS = f"""
    SELECT r.run_id, e.evaluator_type, e.passed, e.score, true AS first
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = ANY(%(runs)s) AND {ONE_PER_EVALUATOR}
"""
_DETAIL_ROWS = f"""
    SELECT r.run_id, e.evaluator_type, e.passed, e.score, coalesce(t.position, 1) = 1 AS first,
           least(width_bucket(e.score, 0, 1, %(bins)s), %(bins)s) AS bin,
           tc.category, tc.difficulty, tc.model_type, t.tag,
           CASE WHEN e.evaluator_type = %(labels)s AND NOT (e.metrics ? 'error')
                THEN e.metrics->>'actual' END AS actual,
           CASE WHEN e.evaluator_type = %(labels)s AND NOT (e.metrics ? 'error')
                THEN e.metrics->>'predicted' END AS predicted
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    JOIN test_cases tc ON tc.id = r.test_case_id
    {TAGS_LATERAL}
    WHERE r.run_id = ANY(%(runs)s) AND {ONE_PER_EVALUATOR}
"""
_DETAIL_COLUMNS = """,
       GROUPING(v.bin, v.category, v.difficulty, v.model_type, v.tag, v.actual, v.predicted),
       v.bin, v.category, v.difficulty, v.model_type, v.tag, v.actual, v.predicted,
       count(*), count(*) FILTER (WHERE v.passed), avg(v.score)"""
_DETAIL_GROUPS = """GROUPING SETS (
    (v.run_id, v.evaluator_type),
    (v.run_id, v.evaluator_type, v.bin),
    (v.run_id, v.evaluator_type, v.category),
    (v.run_id, v.evaluator_type, v.difficulty),
    (v.run_id, v.evaluator_type, v.model_type),
    (v.run_id, v.evaluator_type, v.tag),
    (v.run_id, v.evaluator_type, v.actual, v.predicted)
)"""
# GROUPING() bit masks (1 = column not grouped) for
# (bin, category, difficulty, model_type, tag, actual, predicted).
_GROUPING_EVALUATOR = 0b1111111
_GROUPING_BIN = 0b0111111
_GROUPING_DIMENSION = {
    "category": 0b1011111,
    "difficulty": 0b1101111,
    "model_type": 0b1110111,
}
_GROUPING_TAG = 0b1111011
_GROUPING_CONFUSION = 0b1111100


def evaluator_entry(count: int, passed: int, mean: Any) -> dict:
    """One evaluator's figures from its three aggregates: the pass rate and its interval."""
    low, high = stats.wilson_interval(passed, count)
    return {
        "count": count,
        "passed": passed,
        "pass_rate": rate(passed, count),
        "pass_rate_ci95": [low, high],
        "mean_score": float(mean),
    }


def _slice_row(value: Any, evaluator: str, count: int, passed: int, mean: Any) -> dict:
    return {
        "value": value if value is not None else "",
        "evaluator": evaluator,
        "count": count,
        "pass_rate": rate(passed, count),
        "mean_score": float(mean),
    }


def verdict_figures(run_ids: Iterable[int], *, detail: bool = False) -> dict[int, dict]:
    """Per run id: ``evaluators``, by evaluator name (sorted), :func:`evaluator_entry`.

    ``detail`` (the run report) adds each evaluator's ``histogram`` (HISTOGRAM_BINS counts),
    ``breakdowns`` (per SLICE_DIMENSIONS, rows of value, evaluator, count, pass_rate,
    mean_score, sorted by value) and ``confusion`` ((actual, predicted, n) of the well-formed
    label_match verdicts). One query whatever the number of runs; none for none.
    """
    ids = list(run_ids)
    if not ids:
        return {}
    sql = _VERDICTS_SQL.format(
        detail_columns=_DETAIL_COLUMNS if detail else "",
        rows=_DETAIL_ROWS if detail else _VERDICT_ROWS,
        groups=_DETAIL_GROUPS if detail else "v.run_id, v.evaluator_type",
    )
    params = {"runs": ids, "bins": HISTOGRAM_BINS, "labels": DOMAIN_EVALUATORS["classification"]}
    evaluators: dict[int, dict[str, dict]] = {run_id: {} for run_id in ids}
    histograms: dict[tuple, list[int]] = defaultdict(lambda: [0] * HISTOGRAM_BINS)
    breakdowns = {run_id: {dimension: [] for dimension in SLICE_DIMENSIONS} for run_id in ids}
    confusion: dict[int, list[tuple]] = {run_id: [] for run_id in ids}
    for row in fetch(sql, params):
        run_id, evaluator, n, passed, mean = row[:5]
        if not detail:
            evaluators[run_id][evaluator] = evaluator_entry(n, passed, mean)
            continue
        grouping, bin_number, category, difficulty, model_type, tag = row[5:11]
        actual, predicted, rows_n, rows_passed, rows_mean = row[11:]
        if grouping == _GROUPING_EVALUATOR:
            evaluators[run_id][evaluator] = evaluator_entry(n, passed, mean)
        elif grouping == _GROUPING_BIN:
            histograms[run_id, evaluator][bin_number - 1] = n
        elif grouping == _GROUPING_TAG:
            if tag is not None:  # the cases without tags
                row_figures = _slice_row(tag, evaluator, rows_n, rows_passed, rows_mean)
                breakdowns[run_id]["tag"].append(row_figures)
        elif grouping == _GROUPING_CONFUSION:
            if actual is not None and predicted is not None:  # other evaluators, malformed
                confusion[run_id].append((actual, predicted, n))
        else:
            values = {"category": category, "difficulty": difficulty, "model_type": model_type}
            for dimension, mask in _GROUPING_DIMENSION.items():
                if grouping == mask:
                    breakdowns[run_id][dimension].append(
                        _slice_row(values[dimension], evaluator, n, passed, mean)
                    )
    result = {}
    for run_id in ids:
        figures: dict[str, Any] = {"evaluators": dict(sorted(evaluators[run_id].items()))}
        if detail:
            for evaluator, entry in figures["evaluators"].items():
                entry["histogram"] = histograms[run_id, evaluator]
            for rows in breakdowns[run_id].values():
                rows.sort(key=lambda row: (str(row["value"]), row["evaluator"]))
            figures["breakdowns"] = breakdowns[run_id]
            figures["confusion"] = confusion[run_id]
        result[run_id] = figures
    return result


def run_figures(run: ModelRun, *, detail: bool = False) -> dict:
    """One run's figures: :func:`response_figures` and :func:`verdict_figures` merged (keys
    responses, latency_ms, tokens, memory_mb, errors, evaluators; with ``detail`` also cases,
    breakdowns, confusion). Two queries."""
    return {
        **response_figures([run.pk], detail=detail)[run.pk],
        **verdict_figures([run.pk], detail=detail)[run.pk],
    }
