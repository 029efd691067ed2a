"""Every figure of the run report, the run comparison, the leaderboard and the case history.

One place computes each figure: the pages, ``run_report`` / ``compare_runs``, the JSON and CSV
downloads and the API only render what these functions return. Aggregates (counts, pass
rates, means, histograms, percentiles, the confusion matrix, breakdowns by slice) are SQL;
:mod:`evaluations.stats` turns the aggregated counts into the statistics (Wilson intervals,
McNemar, bootstrap, Holm, the classification block). No request objects here, so the API
calls the same functions.

Public entry points (the API calls these):

- :func:`build_run_report` ``(run) -> dict``: the run report JSON (INTERFACES.md).
- :func:`compare_runs` ``(run_a, run_b) -> dict``: the comparison JSON (INTERFACES.md).
- :func:`build_leaderboard` ``(model_type=None, evaluator=None) -> dict``.
- :func:`case_history` ``(case_id) -> list[dict]``.
- :func:`failing_evaluations` and :func:`comparison_cases`: the paginated tables.

With DATABASE_REPLICA_URL set, the public functions read from the read replica
(``mleval_site.db_router.reading_from_replica``): reports are the heavy reads, and a report a
few seconds behind the primary is still the report.

The SQL names the tables of DATA_MODEL.md (``evaluations``, ``responses``, ``test_cases``)
because they are a documented contract; every value goes in as a query parameter.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connections
from django.db.models import F, QuerySet, Window
from django.db.models.functions import Lag

from cases.models import Origin
from evaluations import stats
from evaluations.models import Evaluation
from mleval_site.db_router import read_alias, reading_from_replica
from runs.models import ModelRun
from runs.selection import selection_drift

__all__ = [
    "CHANGE_KINDS",
    "DOMAIN_EVALUATORS",
    "SLICE_DIMENSIONS",
    "build_leaderboard",
    "build_run_report",
    "case_history",
    "compare_runs",
    "comparison_cases",
    "failing_evaluations",
    "run_summary",
]

#: Which evaluator's verdicts feed each domain block of the report.
DOMAIN_EVALUATORS = {
    "classification": "label_match",
    "detection": "iou",
    "ranking": "ndcg_at_k",
    "forecast": "forecast_error",
}
#: The test-case fields a report breaks down by, in the report's order.
SLICE_DIMENSIONS = ("category", "difficulty", "model_type", "tag")
#: Per-case comparison outcomes, in the order the per-case table lists them.
CHANGE_KINDS = ("regression", "improvement", "only_in_a", "only_in_b", "both_failed", "both_passed")
HISTOGRAM_BINS = 10
LATENCY_BINS = 20
#: Family-wise error rate of the per-slice significance marks.
ALPHA = 0.05


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple]:
    # The read replica inside the public functions below (DATABASE_REPLICA_URL), else default.
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rate(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def run_summary(run: ModelRun) -> dict:
    """The ``run`` block shared by the report and the comparison."""
    return {
        "id": run.pk,
        "model_name": run.model_name,
        "model_version": run.model_version,
        "model_type": run.model_type,
        "status": run.status,
        "total_cases": run.total_cases,
        "completed_cases": run.completed_cases,
        "failed_cases": run.failed_cases,
        "selection": run.config.get("selection"),
        "created_at": run.created_at.isoformat() if run.created_at else None,
    }


# --- run report ----------------------------------------------------------------------------

# Everything about the responses in one pass: latency, tokens, memory, call errors, and which
# cases the report was computed on (human / reviewed ai-generated / unverified, and how many
# were edited after the run was registered: the drift warning).
_RESPONSES_SQL = """
SELECT count(*),
       count(r.latency_ms),
       avg(r.latency_ms)::float8,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.latency_ms),
       max(r.latency_ms),
       coalesce(sum(r.tokens_used), 0)::bigint,
       avg(r.tokens_used)::float8,
       avg(r.memory_mb)::float8,
       max(r.memory_mb)::float8,
       count(*) FILTER (WHERE r.error_message <> ''),
       count(*) FILTER (WHERE tc.is_verified AND tc.origin = %(human)s),
       count(*) FILTER (WHERE tc.is_verified AND tc.origin <> %(human)s),
       count(*) FILTER (WHERE NOT tc.is_verified),
       count(*) FILTER (WHERE tc.updated_at > %(registered)s)
FROM responses r
JOIN test_cases tc ON tc.id = r.test_case_id
WHERE r.run_id = %(run)s
"""

# Latency histogram: LATENCY_BINS equal bins up to a round number at or above p99, and one
# overflow bin (width_bucket's LATENCY_BINS + 1) for the tail beyond it.
_LATENCY_HISTOGRAM_SQL = """
SELECT width_bucket(r.latency_ms, 0, %(high)s, %(bins)s) AS bin, count(*)
FROM responses r
WHERE r.run_id = %(run)s AND r.latency_ms IS NOT NULL
GROUP BY bin
"""

# One pass over the run's verdicts joined to their cases: per evaluator (count, passed, mean),
# its score histogram (bins of 0.1, a score of 1.0 in the last bin), the breakdowns by
# category, difficulty, the case's model type and tag, and the confusion matrix (actual x
# predicted labels of the well-formed label_match verdicts). Tags are unnested, so a verdict
# appears once per tag: the tag set counts every row, the other sets only each verdict's
# first row (`first`). GROUPING() tells the sets apart. One scan instead of three: on a run of
# a million responses the join, not the aggregation, is what costs.
_EVALUATORS_SQL = """
SELECT v.evaluator_type,
       GROUPING(v.bin, v.category, v.difficulty, v.model_type, v.tag, v.actual, v.predicted),
       v.bin, v.category, v.difficulty, v.model_type, v.tag, v.actual, v.predicted,
       count(*) FILTER (WHERE v.first),
       count(*) FILTER (WHERE v.first AND v.passed),
       avg(v.score) FILTER (WHERE v.first),
       count(*), count(*) FILTER (WHERE v.passed), avg(v.score)
FROM (
    SELECT e.evaluator_type, e.passed, e.score,
           least(width_bucket(e.score, 0, 1, %(bins)s), %(bins)s) AS bin,
           tc.category, tc.difficulty, tc.model_type,
           t.tag, coalesce(t.position, 1) = 1 AS first,
           CASE WHEN e.evaluator_type = %(labels)s AND NOT (e.metrics ? 'error')
                THEN e.metrics->>'actual' END AS actual,
           CASE WHEN e.evaluator_type = %(labels)s AND NOT (e.metrics ? 'error')
                THEN e.metrics->>'predicted' END AS predicted
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    JOIN test_cases tc ON tc.id = r.test_case_id
    LEFT JOIN LATERAL unnest(tc.tags) WITH ORDINALITY AS t(tag, position) ON true
    WHERE r.run_id = %(run)s
) v
GROUP BY GROUPING SETS (
    (v.evaluator_type),
    (v.evaluator_type, v.bin),
    (v.evaluator_type, v.category),
    (v.evaluator_type, v.difficulty),
    (v.evaluator_type, v.model_type),
    (v.evaluator_type, v.tag),
    (v.evaluator_type, v.actual, v.predicted)
)
"""
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

# The detection, ranking and forecast blocks from the metrics their evaluators write, pooled in
# one pass. Malformed responses (metrics.error) are left out: each block's count says how many
# responses it covers. A forecast whose sums overflowed (stored as null) is left out too.
_DOMAIN_SQL = """
SELECT count(*) FILTER (WHERE d.detection),
       coalesce(sum((d.m->>'tp')::bigint) FILTER (WHERE d.detection), 0)::bigint,
       coalesce(sum((d.m->>'fp')::bigint) FILTER (WHERE d.detection), 0)::bigint,
       coalesce(sum((d.m->>'fn')::bigint) FILTER (WHERE d.detection), 0)::bigint,
       avg(d.score) FILTER (WHERE d.detection),
       min((d.m->'params'->>'iou_threshold')::float8) FILTER (WHERE d.detection),
       max((d.m->'params'->>'iou_threshold')::float8) FILTER (WHERE d.detection),
       count(*) FILTER (WHERE d.ranking),
       avg((d.m->>'ndcg')::float8) FILTER (WHERE d.ranking),
       avg((d.m->>'mrr')::float8) FILTER (WHERE d.ranking),
       min((d.m->'params'->>'k')::int) FILTER (WHERE d.ranking),
       max((d.m->'params'->>'k')::int) FILTER (WHERE d.ranking),
       count(*) FILTER (WHERE d.forecast),
       coalesce(sum((d.m->>'n')::bigint) FILTER (WHERE d.forecast), 0)::bigint,
       coalesce(sum((d.m->>'sum_abs_error')::float8) FILTER (WHERE d.forecast), 0),
       coalesce(sum((d.m->>'sum_sq_error')::float8) FILTER (WHERE d.forecast), 0),
       coalesce(sum((d.m->>'sum_smape_terms')::float8) FILTER (WHERE d.forecast), 0)
FROM (
    SELECT e.evaluator_type = %(detection)s AS detection,
           e.evaluator_type = %(ranking)s AS ranking,
           e.evaluator_type = %(forecast)s AND e.metrics->>'sum_abs_error' IS NOT NULL
               AND e.metrics->>'sum_sq_error' IS NOT NULL AS forecast,
           e.score, e.metrics AS m
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = %(run)s
      AND e.evaluator_type IN (%(detection)s, %(ranking)s, %(forecast)s)
      AND NOT (e.metrics ? 'error')
) d
"""


@reading_from_replica()
def build_run_report(run: ModelRun) -> dict:
    """The run report (INTERFACES.md "Run report JSON") plus a few documented extras.

    Extras beyond the contract: ``run.created_at``; ``cases`` (what the report was
    computed on: human / reviewed ai-generated / unverified, cases edited since the run was
    registered, the selection's drift from ``runs.selection`` and one ``drift_warning``
    sentence); per evaluator ``pass_rate_ci95`` (Wilson); ``latency_ms.histogram``.
    Undefined figures (the mean of nothing) are null. Five queries at most (four more when
    the selection drifted), whatever the run's size: the responses, the latency bins, the
    drift check, one pass over the verdicts, and the detection/ranking/forecast metrics.
    """
    report: dict[str, Any] = {"run": run_summary(run)}
    report.update(_response_figures(run))
    evaluators, breakdowns, confusion = _evaluator_figures(run)
    report["evaluators"] = evaluators
    report["breakdowns"] = breakdowns
    report.update(_domain_blocks(run, evaluators, confusion))
    # Keep the contract's key order readable in the JSON: run, cases, evaluators, ...
    order = ["run", "cases", "evaluators", "latency_ms", "tokens", "memory_mb", "errors"]
    order += ["breakdowns", "classification", "detection", "ranking", "forecast"]
    return {key: report[key] for key in order}


def _response_figures(run: ModelRun) -> dict:
    params = {"run": run.pk, "human": Origin.HUMAN, "registered": run.created_at}
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
        human,
        ai_reviewed,
        unverified,
        edited,
    ) = _fetch(_RESPONSES_SQL, params)[0]
    p50, p95, p99 = percentiles if percentiles else (None, None, None)
    latency = {
        "count": latency_count,
        "mean": latency_mean,
        "p50": _float(p50),
        "p95": _float(p95),
        "p99": _float(p99),
        "max": latency_max,
        "histogram": _latency_histogram(run, p99, latency_count),
    }
    drift = _selection_drift(run)
    warnings = []
    if edited:
        warnings.append(
            f"{edited} of the {responses} cases this report covers were edited after the run "
            "was registered: their ground truth may no longer be what the model was scored on."
        )
    if drift and drift["error"]:
        warnings.append(f"The run's selection no longer applies: {drift['error']}")
    elif drift and (drift["added"] or drift["removed"]):
        warnings.append(
            f"The selection now matches {drift['added']} case(s) the run does not have and no "
            f"longer matches {drift['removed']} of its cases ({drift['deleted']} deleted)."
        )
    cases = {
        "responses": responses,
        "human": human,
        "ai_generated_reviewed": ai_reviewed,
        "unverified": unverified,
        "edited_since_run": edited,
        "selection_drift": drift,
        "drift_warning": " ".join(warnings) or None,
    }
    return {
        "cases": cases,
        "latency_ms": latency,
        "tokens": {"total": tokens_total, "mean": tokens_mean},
        "memory_mb": {"mean": memory_mean, "max": memory_max},
        "errors": errors,
    }


def _selection_drift(run: ModelRun) -> dict | None:
    """How the run's selection has moved since registration (runs.selection), or None for a
    run registered without a fingerprint (seeded, or made directly), which has nothing to
    compare with. One query when nothing changed."""
    if not run.selection_fingerprint:
        return None
    drift = selection_drift(run)
    return {
        "edited": drift.edited,
        "added": drift.added,
        "removed": drift.removed,
        "deleted": drift.deleted,
        "error": drift.error or None,
    }


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above value: round bin edges for a chart."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10.0**exponent
        if candidate >= value:
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover (the loop always returns)


def _latency_histogram(run: ModelRun, p99: float | None, count: int) -> dict | None:
    if not count:
        return None
    # Bins up to a round number past p99 (and past LATENCY_BINS ms, so bins are >= 1 ms wide).
    high = _nice_ceiling(max(float(p99 or 0) * 1.05, LATENCY_BINS))
    rows = _fetch(_LATENCY_HISTOGRAM_SQL, {"run": run.pk, "high": high, "bins": LATENCY_BINS})
    counts = [0] * LATENCY_BINS
    overflow = 0
    for bin_number, n in rows:
        if bin_number > LATENCY_BINS:
            overflow += n
        else:
            counts[max(bin_number, 1) - 1] += n
    return {"bin_width": high / LATENCY_BINS, "counts": counts, "overflow": overflow}


def _slice_row(value: Any, evaluator: str, count: int, passed: int, mean: float) -> dict:
    return {
        "value": value if value is not None else "",
        "evaluator": evaluator,
        "count": count,
        "pass_rate": _rate(passed, count),
        "mean_score": float(mean),
    }


def _evaluator_figures(run: ModelRun) -> tuple[dict, dict, list[tuple]]:
    """Evaluators, breakdowns and the confusion counts (actual, predicted, n), one query."""
    evaluators: dict[str, dict] = {}
    histograms: dict[str, list[int]] = defaultdict(lambda: [0] * HISTOGRAM_BINS)
    breakdowns: dict[str, list[dict]] = {dimension: [] for dimension in SLICE_DIMENSIONS}
    confusion: list[tuple] = []
    params = {"run": run.pk, "bins": HISTOGRAM_BINS, "labels": DOMAIN_EVALUATORS["classification"]}
    for row in _fetch(_EVALUATORS_SQL, params):
        evaluator, grouping, bin_number, category, difficulty, model_type, tag = row[:7]
        actual, predicted, n, passed, mean, rows_n, rows_passed, rows_mean = row[7:]
        if grouping == _GROUPING_EVALUATOR:
            low, high = stats.wilson_interval(passed, n)
            evaluators[evaluator] = {
                "count": n,
                "passed": passed,
                "pass_rate": _rate(passed, n),
                "pass_rate_ci95": [low, high],
                "mean_score": float(mean),
            }
        elif grouping == _GROUPING_BIN:
            histograms[evaluator][bin_number - 1] = n
        elif grouping == _GROUPING_TAG:
            if tag is not None:  # the cases without tags
                breakdowns["tag"].append(_slice_row(tag, evaluator, rows_n, rows_passed, rows_mean))
        elif grouping == _GROUPING_CONFUSION:
            if actual is not None and predicted is not None:  # other evaluators, malformed
                confusion.append((actual, predicted, n))
        else:
            values = {"category": category, "difficulty": difficulty, "model_type": model_type}
            for dimension, mask in _GROUPING_DIMENSION.items():
                if grouping == mask:
                    breakdowns[dimension].append(
                        _slice_row(values[dimension], evaluator, n, passed, mean)
                    )
    for evaluator, figures in evaluators.items():
        figures["histogram"] = histograms[evaluator]
    for dimension in SLICE_DIMENSIONS:
        breakdowns[dimension].sort(key=lambda row: (str(row["value"]), row["evaluator"]))
    return dict(sorted(evaluators.items())), breakdowns, confusion


def _single(low: Any, high: Any) -> Any:
    """A parameter shared by every verdict of a block, or None when they disagree."""
    return low if low == high else None


def _domain_blocks(run: ModelRun, evaluators: dict, confusion: list[tuple]) -> dict:
    blocks: dict[str, Any] = {name: None for name in DOMAIN_EVALUATORS}
    if confusion:
        labels = sorted(
            {label for actual, predicted, _ in confusion for label in (actual, predicted)}
        )
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for actual, predicted, n in confusion:
            matrix[index[actual]][index[predicted]] += n
        block = stats.classification_summary(
            labels, matrix, positive_label=run.config.get("positive_label")
        )
        blocks["classification"] = {"count": sum(n for *_, n in confusion), **block}
    others = [DOMAIN_EVALUATORS[name] for name in ("detection", "ranking", "forecast")]
    if not any(evaluator in evaluators for evaluator in others):
        return blocks
    params = {"run": run.pk, **{name: DOMAIN_EVALUATORS[name] for name in DOMAIN_EVALUATORS}}
    (
        detection_count,
        tp,
        fp,
        fn,
        mean_iou,
        threshold_low,
        threshold_high,
        ranking_count,
        mean_ndcg,
        mrr,
        k_low,
        k_high,
        forecast_count,
        points,
        sum_abs,
        sum_sq,
        sum_smape,
    ) = _fetch(_DOMAIN_SQL, params)[0]
    if detection_count:
        blocks["detection"] = {
            "count": detection_count,
            **stats.pooled_detection(tp, fp, fn),
            "mean_iou": float(mean_iou),
            "iou_threshold": _single(threshold_low, threshold_high),
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    if ranking_count:
        blocks["ranking"] = {
            "count": ranking_count,
            "k": _single(k_low, k_high),
            "mean_ndcg": float(mean_ndcg),
            "mrr": float(mrr),
        }
    if forecast_count:
        blocks["forecast"] = {
            "count": forecast_count,
            **stats.pooled_forecast(points, sum_abs, sum_sq, sum_smape),
            "points": points,
        }
    return blocks


@reading_from_replica()
def failing_evaluations(
    run: ModelRun, evaluator: str | None = None, **slices: str | None
) -> QuerySet[Evaluation]:
    """The run's failed verdicts (worst first), filtered by evaluator and slice.

    ``slices`` takes the report's dimensions: ``category``, ``difficulty``, ``model_type``
    and ``tag``; an empty or missing value means no filter (as in the page's form).
    """
    unknown = set(slices) - set(SLICE_DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown slice dimension {sorted(unknown)[0]!r}")
    queryset = Evaluation.objects.filter(response__run=run, passed=False)
    if evaluator:
        queryset = queryset.filter(evaluator_type=evaluator)
    for dimension, value in slices.items():
        if not value:
            continue
        if dimension == "tag":
            queryset = queryset.filter(response__test_case__tags__contains=[value])
        else:
            queryset = queryset.filter(**{f"response__test_case__{dimension}": value})
    return (
        queryset.select_related("response__test_case")
        .order_by("score", "response__test_case_id", "evaluator_type")
        .using(read_alias())  # read lazily, after this function has returned
    )


# --- run comparison ------------------------------------------------------------------------

# The two runs' verdicts paired by (test case, evaluator); one side is null where only one run
# has the verdict.
_PAIRS_CTE = """
WITH a AS (
    SELECT r.test_case_id, e.evaluator_type, e.passed, e.score
    FROM evaluations e JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = %(a)s
), b AS (
    SELECT r.test_case_id, e.evaluator_type, e.passed, e.score
    FROM evaluations e JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = %(b)s
), pairs AS (
    SELECT coalesce(a.evaluator_type, b.evaluator_type) AS evaluator,
           coalesce(a.test_case_id, b.test_case_id) AS test_case_id,
           a.passed AS a_passed, b.passed AS b_passed, a.score AS a_score, b.score AS b_score,
           b.score - a.score AS delta,
           CASE WHEN a.passed AND NOT b.passed THEN 0
                WHEN NOT a.passed AND b.passed THEN 1
                WHEN b.passed IS NULL THEN 2
                WHEN a.passed IS NULL THEN 3
                WHEN NOT a.passed THEN 4
                ELSE 5 END AS change
    FROM a FULL JOIN b
      ON a.test_case_id = b.test_case_id AND a.evaluator_type = b.evaluator_type
)
"""


def _pair_counts_sql(condition: str) -> str:
    """The eight aggregates _paired_counts takes, over the rows where ``condition`` holds."""
    return ",\n".join(
        [
            *(
                f"count(*) FILTER (WHERE {condition} AND p.change = {i})"
                for i in (5, 4, 0, 1, 2, 3)
            ),
            f"avg(p.a_score) FILTER (WHERE {condition} AND p.change IN (0, 1, 4, 5))",
            f"avg(p.b_score) FILTER (WHERE {condition} AND p.change IN (0, 1, 4, 5))",
        ]
    )


# In one pass over the pairs joined to their cases: counts per evaluator and per slice
# (category, difficulty, model type, tag). Tags are unnested as in the report: the tag set
# counts every row, the others each pair's first row only.
_COMPARISON_SQL = (
    _PAIRS_CTE
    + f"""
SELECT p.evaluator,
       GROUPING(tc.category, tc.difficulty, tc.model_type, t.tag),
       tc.category, tc.difficulty, tc.model_type, t.tag,
       {_pair_counts_sql("coalesce(t.position, 1) = 1")},
       {_pair_counts_sql("true")}
FROM pairs p
JOIN test_cases tc ON tc.id = p.test_case_id
LEFT JOIN LATERAL unnest(tc.tags) WITH ORDINALITY AS t(tag, position) ON true
GROUP BY GROUPING SETS (
    (p.evaluator),
    (p.evaluator, tc.category),
    (p.evaluator, tc.difficulty),
    (p.evaluator, tc.model_type),
    (p.evaluator, t.tag)
)
"""
)
# GROUPING() masks for (category, difficulty, model_type, tag).
_CMP_EVALUATOR = 0b1111
_CMP_DIMENSION = {"category": 0b0111, "difficulty": 0b1011, "model_type": 0b1101}
_CMP_TAG = 0b1110

# The paired score deltas (B - A) per evaluator, as one flat array each, for the bootstrap.
# A narrow query of its own: grouping the wide rows above by delta would sort them all.
_DELTAS_SQL = (
    _PAIRS_CTE
    + """
SELECT p.evaluator, array_agg(p.delta)
FROM pairs p
WHERE p.delta IS NOT NULL
GROUP BY p.evaluator
"""
)

_COMPARISON_CASES_SQL = (
    _PAIRS_CTE
    + """
SELECT p.test_case_id, p.evaluator, p.a_passed, p.b_passed, p.a_score, p.b_score, p.change
FROM pairs p
WHERE (%(evaluator)s::text IS NULL OR p.evaluator = %(evaluator)s::text)
  AND (%(change)s::int IS NULL OR p.change = %(change)s::int)
ORDER BY p.change, p.delta NULLS LAST, p.test_case_id, p.evaluator
LIMIT %(limit)s OFFSET %(offset)s
"""
)


def _paired_counts(both_passed: int, both_failed: int, regressions: int, improvements: int,
                   only_a: int, only_b: int, mean_a: Any, mean_b: Any) -> dict:  # fmt: skip
    """Pass rates, means and their deltas over the paired cases, and McNemar's p."""
    paired = both_passed + both_failed + regressions + improvements
    pass_a = _rate(both_passed + regressions, paired)
    pass_b = _rate(both_passed + improvements, paired)
    mean_a = float(mean_a) if mean_a is not None else 0.0
    mean_b = float(mean_b) if mean_b is not None else 0.0
    return {
        "paired": paired,
        "both_passed": both_passed,
        "both_failed": both_failed,
        "regressions": regressions,
        "improvements": improvements,
        "only_in_a": only_a,
        "only_in_b": only_b,
        "pass_rate_a": pass_a,
        "pass_rate_b": pass_b,
        "pass_rate_delta": pass_b - pass_a,
        "mean_score_a": mean_a,
        "mean_score_b": mean_b,
        "mean_score_delta": mean_b - mean_a,
        "mcnemar_p": stats.mcnemar_exact_p(regressions, improvements),
    }


@reading_from_replica()
def compare_runs(run_a: ModelRun, run_b: ModelRun, *, case_limit: int | None = None) -> dict:
    """The comparison of two runs (INTERFACES.md "Comparison JSON") plus documented extras.

    Verdicts are paired by test case, evaluator by evaluator; pass rates and mean scores are
    over the paired cases (the intersection), so the deltas compare like with like.
    Extras: per evaluator ``mde`` (smallest pass-rate change this pairing detects at 80%
    power, alpha 0.05; null when too few pairs); ``selections_differ``; ``slices`` (per-slice
    deltas with Holm-adjusted McNemar p-values within each evaluator, ``significant_regression``
    where the adjusted p < 0.05 and regressions outnumber improvements); per case ``change``.
    ``cases`` lists every verdict pair, regressions first; ``case_limit`` caps it (the page
    pages through :func:`comparison_cases` instead). ``bootstrap_method`` names the interval:
    ``percentile``, or ``normal`` past ``stats.BOOTSTRAP_MAX_PAIRS`` deltas.
    """
    params = {"a": run_a.pk, "b": run_b.pk}
    evaluators: dict[str, dict] = {}
    slices: list[dict] = []
    for row in _fetch(_COMPARISON_SQL, params):
        evaluator, grouping, category, difficulty, model_type, tag = row[:6]
        counts, tag_counts = row[6:14], row[14:]
        if grouping == _CMP_EVALUATOR:
            evaluators[evaluator] = _paired_counts(*counts)
        elif grouping == _CMP_TAG:
            if tag is not None:
                head = {"dimension": "tag", "value": tag, "evaluator": evaluator}
                slices.append({**head, **_paired_counts(*tag_counts)})
        else:
            values = {"category": category, "difficulty": difficulty, "model_type": model_type}
            for dimension, mask in _CMP_DIMENSION.items():
                if grouping == mask:
                    slices.append(
                        {
                            "dimension": dimension,
                            "value": values[dimension] or "",
                            "evaluator": evaluator,
                            **_paired_counts(*counts),
                        }
                    )

    deltas = dict(_fetch(_DELTAS_SQL, params)) if evaluators else {}
    for evaluator, figures in evaluators.items():
        sample = np.asarray(deltas.get(evaluator) or [], dtype=np.float64)
        interval = stats.paired_bootstrap_ci(sample)
        figures["bootstrap_ci95"] = [interval.low, interval.high]
        figures["bootstrap_method"] = interval.method  # "percentile" or "normal" (large n)
        paired = figures["paired"]
        discordant = figures["regressions"] + figures["improvements"]
        figures["mde"] = stats.minimum_detectable_effect(paired, _rate(discordant, paired))
        figures["pass_rate_a_ci95"] = list(
            stats.wilson_interval(figures["both_passed"] + figures["regressions"], paired)
        )
        figures["pass_rate_b_ci95"] = list(
            stats.wilson_interval(figures["both_passed"] + figures["improvements"], paired)
        )

    slices = [row for row in slices if row["paired"]]
    by_evaluator: dict[str, list[dict]] = defaultdict(list)
    for row in slices:
        by_evaluator[row["evaluator"]].append(row)
    for rows in by_evaluator.values():
        for row, adjusted in zip(
            rows, stats.holm_adjust([row["mcnemar_p"] for row in rows]), strict=True
        ):
            row["mcnemar_p_holm"] = adjusted
            row["significant_regression"] = (
                adjusted < ALPHA and row["regressions"] > row["improvements"]
            )
    dimension_order = {dimension: i for i, dimension in enumerate(SLICE_DIMENSIONS)}
    slices.sort(key=lambda r: (r["evaluator"], dimension_order[r["dimension"]], str(r["value"])))

    selection_a, selection_b = run_a.config.get("selection"), run_b.config.get("selection")
    return {
        "a": run_summary(run_a),
        "b": run_summary(run_b),
        "selections_differ": selection_a != selection_b
        or any(f["only_in_a"] or f["only_in_b"] for f in evaluators.values()),
        "evaluators": dict(sorted(evaluators.items())),
        "slices": slices,
        "cases": comparison_cases(run_a, run_b, limit=case_limit) if case_limit != 0 else [],
    }


@reading_from_replica()
def comparison_cases(
    run_a: ModelRun,
    run_b: ModelRun,
    *,
    evaluator: str | None = None,
    change: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict]:
    """Paired verdicts, regressions first (largest score drop first), then improvements,
    verdicts in one run only, both failed, both passed. ``change`` filters by CHANGE_KINDS."""
    if change is not None and change not in CHANGE_KINDS:
        raise ValueError(f"unknown change {change!r} (one of: {', '.join(CHANGE_KINDS)})")
    params = {
        "a": run_a.pk,
        "b": run_b.pk,
        "evaluator": evaluator or None,
        "change": CHANGE_KINDS.index(change) if change else None,
        "limit": limit,
        "offset": offset,
    }
    return [
        {
            "test_case_id": test_case_id,
            "evaluator": evaluator_type,
            "a_passed": a_passed,
            "b_passed": b_passed,
            "a_score": a_score,
            "b_score": b_score,
            "change": CHANGE_KINDS[change_index],
        }
        for test_case_id, evaluator_type, a_passed, b_passed, a_score, b_score, change_index in (
            _fetch(_COMPARISON_CASES_SQL, params)
        )
    ]


# --- leaderboard ---------------------------------------------------------------------------

_LEADERBOARD_EVALUATIONS_SQL = """
SELECT r.run_id, e.evaluator_type, count(*), count(*) FILTER (WHERE e.passed), avg(e.score)
FROM evaluations e JOIN responses r ON r.id = e.response_id
WHERE r.run_id = ANY(%(runs)s)
GROUP BY r.run_id, e.evaluator_type
"""
_LEADERBOARD_RESPONSES_SQL = """
SELECT r.run_id,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms),
       sum(r.tokens_used)::bigint,
       avg(r.tokens_used)::float8
FROM responses r
WHERE r.run_id = ANY(%(runs)s)
GROUP BY r.run_id
"""


def selection_label(selection: Any) -> str:
    """A short human reading of a run's recorded selection, e.g. ``category=sentiment``."""
    if not selection:
        return "no selection recorded"
    if not isinstance(selection, dict):
        return json.dumps(selection)
    parts = []
    for key in sorted(selection):
        value = selection[key]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " · ".join(parts)


@reading_from_replica()
def build_leaderboard(model_type: str | None = None, evaluator: str | None = None) -> dict:
    """Runs grouped by model type and selection, ranked by an evaluator's pass rate.

    Each group ranks by ``evaluator`` when its runs have it, else by the evaluator most of
    the group's runs have. Runs without verdicts for the ranking evaluator are listed after
    the ranked ones. ``trends`` gives each model name's pass rate by version (in the order the
    runs were registered) for the chart. Three queries whatever the number of runs.
    """
    runs = ModelRun.objects.all().order_by("created_at", "id")
    if model_type:
        runs = runs.filter(model_type=model_type)
    runs = list(runs)
    ids = [run.pk for run in runs]
    per_run: dict[int, dict[str, dict]] = defaultdict(dict)
    responses: dict[int, tuple] = {}
    if ids:
        for run_id, evaluator_type, n, passed, mean in _fetch(
            _LEADERBOARD_EVALUATIONS_SQL, {"runs": ids}
        ):
            low, high = stats.wilson_interval(passed, n)
            per_run[run_id][evaluator_type] = {
                "count": n,
                "passed": passed,
                "pass_rate": _rate(passed, n),
                "pass_rate_ci95": [low, high],
                "mean_score": float(mean),
            }
        responses = {
            run_id: (p95, total, mean)
            for run_id, p95, total, mean in _fetch(_LEADERBOARD_RESPONSES_SQL, {"runs": ids})
        }

    groups: dict[tuple[str, str], list[ModelRun]] = defaultdict(list)
    for run in runs:
        if per_run.get(run.pk):
            selection = run.config.get("selection")
            groups[(run.model_type, json.dumps(selection, sort_keys=True))].append(run)

    result = []
    for (group_type, selection_key), members in sorted(groups.items()):
        chosen = _group_evaluator(members, per_run, evaluator)
        rows = []
        for run in members:
            p95, tokens_total, tokens_mean = responses.get(run.pk, (None, None, None))
            figures = per_run[run.pk].get(chosen)
            rows.append(
                {
                    "run": run_summary(run),
                    "evaluator": chosen if figures else None,
                    **(
                        figures
                        or {
                            "count": 0,
                            "passed": 0,
                            "pass_rate": None,
                            "pass_rate_ci95": None,
                            "mean_score": None,
                        }
                    ),
                    "latency_p95": _float(p95),
                    "tokens_total": tokens_total,
                    "tokens_mean": tokens_mean,
                    "evaluators": sorted(per_run[run.pk]),
                }
            )
        rows.sort(
            key=lambda row: (
                row["pass_rate"] is None,
                -(row["pass_rate"] or 0.0),
                -row["count"],
                row["run"]["id"],
            )
        )
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank if row["pass_rate"] is not None else None
        trends: dict[str, list[dict]] = defaultdict(list)
        for run in members:  # registration order
            figures = per_run[run.pk].get(chosen)
            if figures:
                trends[run.model_name].append(
                    {
                        "run_id": run.pk,
                        "model_version": run.model_version,
                        "pass_rate": figures["pass_rate"],
                    }
                )
        result.append(
            {
                "model_type": group_type,
                "selection": json.loads(selection_key),
                "selection_label": selection_label(json.loads(selection_key)),
                "evaluator": chosen,
                "evaluators": sorted({e for run in members for e in per_run[run.pk]}),
                "runs": rows,
                "trends": [
                    {"model_name": name, "points": points}
                    for name, points in sorted(trends.items())
                ],
            }
        )
    return {
        "model_type": model_type or None,
        "evaluator": evaluator or None,
        "evaluators": sorted({e for figures in per_run.values() for e in figures}),
        "model_types": sorted({run.model_type for run in runs}),
        "groups": result,
    }


def _group_evaluator(
    members: Sequence[ModelRun], per_run: dict[int, dict[str, dict]], wanted: str | None
) -> str:
    present: dict[str, int] = defaultdict(int)
    for run in members:
        for evaluator_type in per_run[run.pk]:
            present[evaluator_type] += 1
    if wanted and wanted in present:
        return wanted
    return min(present, key=lambda name: (-present[name], name))


# --- case history --------------------------------------------------------------------------


@reading_from_replica()
def case_history(case_id: int, limit: int | None = 200) -> list[dict]:
    """This case's verdict in every run, newest run first.

    ``flipped`` marks a verdict whose pass/fail differs from the same evaluator's verdict in
    the previous run of the same model name (runs in registration order: consecutive
    versions); ``previous_version`` names that run's version. One query.
    """
    model_window = {
        "partition_by": [F("response__run__model_name"), F("evaluator_type")],
        "order_by": [F("response__run__created_at").asc(), F("response__run_id").asc()],
    }
    queryset = (
        Evaluation.objects.filter(response__test_case_id=case_id)
        .select_related("response__run")
        .annotate(
            previous_passed=Window(Lag("passed"), **model_window),
            previous_version=Window(Lag("response__run__model_version"), **model_window),
        )
        .order_by("-response__run__created_at", "-response__run_id", "evaluator_type")
    )
    if limit is not None:
        queryset = queryset[:limit]
    return [
        {
            "run": run_summary(verdict.response.run),
            "evaluator": verdict.evaluator_type,
            "passed": verdict.passed,
            "score": verdict.score,
            "feedback": verdict.feedback,
            "previous_version": verdict.previous_version,
            "flipped": verdict.previous_passed is not None
            and verdict.previous_passed != verdict.passed,
        }
        for verdict in queryset
    ]
