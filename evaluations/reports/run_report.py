"""The run report (INTERFACES.md "Run report JSON") and its failing-verdicts table.

The per-evaluator and per-response figures come from :mod:`.figures`; this module adds what
only the report shows: the latency histogram, the selection's drift, and the classification,
detection, ranking and forecast blocks (:mod:`evaluations.stats` turns their aggregated
counts into statistics).
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import QuerySet

from cases.shapes import canonical_label
from evaluations import stats
from evaluations.models import Evaluation
from evaluations.reports.common import (
    DOMAIN_EVALUATORS,
    SLICE_DIMENSIONS,
    fetch,
    run_summary,
)
from evaluations.reports.extensions import extension_blocks, trust_block
from evaluations.reports.figures import run_figures
from evaluations.reports.judging import judging_block
from evaluations.reports.multilabel import multilabel_block
from evaluations.reports.regression import regression_block
from evaluations.reports.scores import scores_block
from evaluations.reports.trials import trials_block
from mleval_site.db_router import read_alias, reading_from_replica
from runs.models import ModelRun
from runs.selection import selection_drift

__all__ = [
    "LATENCY_BINS",
    "assemble_report",
    "build_run_report",
    "failing_cursor_constant",
    "failing_evaluations",
    "report_figures",
    "selection_drift_block",
]

LATENCY_BINS = 20

# Latency histogram: LATENCY_BINS equal bins up to a round number at or above p99, and one
# overflow bin (width_bucket's LATENCY_BINS + 1) for the tail beyond it.
_LATENCY_HISTOGRAM_SQL = """
SELECT width_bucket(r.latency_ms, 0, %(high)s, %(bins)s) AS bin, count(*)
FROM responses r
WHERE r.run_id = %(run)s AND r.latency_ms IS NOT NULL
GROUP BY bin
"""

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
    the selection drifted), whatever the run's size: the responses and the verdicts
    (:func:`.figures.run_figures`), the latency bins, the drift check, and the
    detection/ranking/forecast metrics; plus the registered extensions' (grading's agreement
    block, and the evaluators' ``trust``, read at each call: a fingerprint, and its figures
    when not cached).

    Pages, downloads and the API read the stored copy instead
    (:func:`evaluations.summaries.run_report`): the same dict, from :func:`report_figures`
    and :func:`selection_drift_block` kept per run, assembled by :func:`assemble_report`.
    """
    return assemble_report(run, report_figures(run), selection_drift_block(run))


def report_figures(run: ModelRun) -> dict:
    """Every figure of the report that its run's data decides (all but the ``run`` block and
    the selection's drift): what a run summary stores. Plain JSON values."""
    figures = run_figures(run, detail=True)
    latency = figures["latency_ms"]
    return {
        "cases": {"responses": figures["responses"], **figures["cases"]},
        "evaluators": figures["evaluators"],
        "latency_ms": {**latency, "histogram": _latency_histogram(run, latency)},
        "tokens": figures["tokens"],
        "memory_mb": figures["memory_mb"],
        "errors": figures["errors"],
        "breakdowns": figures["breakdowns"],
        "judging": judging_block(run, figures["evaluators"]),
        **_domain_blocks(run, figures["evaluators"], figures["confusion"]),
        **extension_blocks(run),  # e.g. grading's "agreement" (evaluations/reports/extensions.py)
    }


def assemble_report(run: ModelRun, figures: dict, drift: dict | None) -> dict:
    """The report from its stored parts and the run's current ``run`` block."""
    cases = dict(figures["cases"])
    responses = cases.pop("responses")
    return {
        "run": run_summary(run),
        "cases": _cases_block(responses, cases, drift),
        **{key: value for key, value in figures.items() if key != "cases"},
        "trials": trials_block(run),  # read now: siblings' verdicts move no version of this run
        # Read now too: it moves with the grading of any run (extensions.trust_block).
        "trust": trust_block(figures["evaluators"]),
    }


def _cases_block(responses: int, cases: dict, drift: dict | None) -> dict:
    """Which cases the report covers, and one sentence when they moved since registration."""
    edited = cases["edited_since_run"]
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
    return {
        "responses": responses,
        **cases,
        "selection_drift": drift,
        "drift_warning": " ".join(warnings) or None,
    }


def selection_drift_block(run: ModelRun) -> dict | None:
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


def _latency_histogram(run: ModelRun, latency: dict) -> dict | None:
    if not latency["count"]:
        return None
    # Bins up to a round number past p99 (and past LATENCY_BINS ms, so bins are >= 1 ms wide).
    high = _nice_ceiling(max((latency["p99"] or 0.0) * 1.05, LATENCY_BINS))
    rows = fetch(_LATENCY_HISTOGRAM_SQL, {"run": run.pk, "high": high, "bins": LATENCY_BINS})
    counts = [0] * LATENCY_BINS
    overflow = 0
    for bin_number, n in rows:
        if bin_number > LATENCY_BINS:
            overflow += n
        else:
            counts[max(bin_number, 1) - 1] += n
    return {"bin_width": high / LATENCY_BINS, "counts": counts, "overflow": overflow}


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
            labels, matrix, positive_label=canonical_label(run.config.get("positive_label"))
        )
        binary = block["binary"]
        scores = scores_block(run.pk, block["labels"], binary and binary["positive_label"])
        blocks["classification"] = {
            "count": sum(n for *_, n in confusion),
            **block,
            "scores": scores,
            "decision_threshold": run.config.get("decision_threshold"),
        }
    if DOMAIN_EVALUATORS["regression"] in evaluators:
        blocks["regression"] = regression_block(run.pk)
    if DOMAIN_EVALUATORS["multilabel"] in evaluators:
        blocks["multilabel"] = multilabel_block(run.pk)
    others = [DOMAIN_EVALUATORS[name] for name in ("detection", "ranking", "forecast")]
    if not any(evaluator in evaluators for evaluator in others):
        return blocks
    params = {
        "run": run.pk,
        **{name: DOMAIN_EVALUATORS[name] for name in ("detection", "ranking", "forecast")},
    }
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
    ) = fetch(_DOMAIN_SQL, params)[0]
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


def failing_cursor_constant(evaluator: str | None) -> dict[str, str]:
    """What :func:`failing_evaluations` holds constant under an evaluator filter (its order
    starts with the evaluator): keyset pages leave it out of their links
    (``keyset_page(constant=...)``), so a link is (score, id) with or without the filter."""
    return {"evaluator_type": evaluator} if evaluator else {}


@reading_from_replica()
def failing_evaluations(
    run: ModelRun, evaluator: str | None = None, **slices: str | None
) -> QuerySet[Evaluation]:
    """The run's failed verdicts, worst first (lowest score, then scoring order: the
    ``evals_failing_worst_first`` index's order, so a keyset page walks that index and stops
    after a page of this run's rows), filtered by evaluator and slice.

    ``slices`` takes the report's dimensions: ``category``, ``difficulty``, ``model_type``
    and ``tag``; an empty or missing value means no filter (as in the page's form,
    :class:`evaluations.filters.FailingCasesForm`).
    """
    unknown = set(slices) - set(SLICE_DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown slice dimension {sorted(unknown)[0]!r}")
    queryset = Evaluation.objects.one_per_evaluator().filter(response__run=run, passed=False)
    if evaluator:
        queryset = queryset.filter(evaluator_type=evaluator)
    for dimension, value in slices.items():
        if not value:
            continue
        if dimension == "tag":
            queryset = queryset.filter(response__test_case__tags__contains=[value])
        else:
            queryset = queryset.filter(**{f"response__test_case__{dimension}": value})
    # One evaluator's: the same order spelled as its index's, (evaluator_type, score, id), so
    # the planner walks that index instead of the other one past every other evaluator's rows.
    ordering = ("evaluator_type", "score", "id") if evaluator else ("score", "id")
    return (
        queryset.select_related("response__test_case")
        .order_by(*ordering)
        .using(read_alias())  # read lazily, after this function has returned
    )
