"""The comparison of two runs (INTERFACES.md "Comparison JSON"); its per-case rows are in
:mod:`.comparison_pages`.

Verdicts are paired by test case and evaluator in SQL; pass rates and means here are over the
paired cases (the intersection), a different figure from a run's own pass rate
(:mod:`.figures`). :mod:`evaluations.stats` turns the paired counts into McNemar, Holm,
the bootstrap interval and the minimum detectable effect.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from evaluations import stats
from evaluations.reports.auc_comparison import auc_comparison
from evaluations.reports.common import (
    DOMAIN_EVALUATORS,
    SLICE_DIMENSIONS,
    fetch,
    rate,
    run_summary,
)
from evaluations.reports.comparison_pages import comparison_cases
from evaluations.reports.extensions import trust_block, untrusted_changes
from evaluations.reports.pairs import (
    CHANGED_IN_VERSIONS,
    COMPARISON_SETTINGS,
    pairs_cte,
    version_params,
)
from mleval_site.db_router import reading_from_replica
from runs.models import ModelRun

__all__ = ["ALPHA", "compare_runs", "trust_blocks"]

#: Family-wise error rate of the per-slice significance marks.
ALPHA = 0.05

_PAIRS_CTE = pairs_cte()


def _pair_counts_sql(condition: str) -> str:
    """The eight aggregates _paired_counts takes, over the groups where ``condition`` holds."""
    paired = f"{condition} AND g.change IN (0, 1, 4, 5)"
    return ",\n".join(
        [
            *(
                f"coalesce(sum(g.n) FILTER (WHERE {condition} AND g.change = {i}), 0)::bigint"
                for i in (5, 4, 0, 1, 2, 3)
            ),
            *(
                f"sum(g.sum_{side}) FILTER (WHERE {paired})"
                f" / nullif(sum(g.n) FILTER (WHERE {paired}), 0)"
                for side in ("a", "b")
            ),
        ]
    )


# One pass over the pairs joined to their cases. First counted per outcome and per combination
# of the case's slice values (a few thousand groups for a million pairs; as many as the pairs at
# worst), with the score sums the means need and the moments of the paired deltas (B - A) the
# normal-theory interval needs; then rolled up per evaluator and per slice (category,
# difficulty, model type, tag). Tags are unnested as in the report: the tag set counts every
# row, the others each group's first row only. The deltas themselves are fetched only for the
# evaluators with few enough pairs to bootstrap (_DELTAS_SQL): a second pass, for small runs.
_COMPARISON_SQL = (
    _PAIRS_CTE
    + f"""
, groups AS (
    SELECT p.evaluator, p.change, tc.category, tc.difficulty, tc.model_type, tc.tags,
           count(*) AS n, sum(p.a_score) AS sum_a, sum(p.b_score) AS sum_b,
           sum(p.delta) AS sum_delta, sum(p.delta * p.delta) AS sum_delta_sq,
           min(p.delta) AS low, max(p.delta) AS high
    FROM pairs p
    JOIN test_cases tc ON tc.id = p.test_case_id
    GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT g.evaluator,
       GROUPING(g.category, g.difficulty, g.model_type, t.tag),
       g.category, g.difficulty, g.model_type, t.tag,
       {_pair_counts_sql("coalesce(t.position, 1) = 1")},
       {_pair_counts_sql("true")},
       sum(g.sum_delta) FILTER (WHERE coalesce(t.position, 1) = 1),
       sum(g.sum_delta_sq) FILTER (WHERE coalesce(t.position, 1) = 1),
       min(g.low), max(g.high)
FROM groups g
LEFT JOIN LATERAL unnest(g.tags) WITH ORDINALITY AS t(tag, position) ON true
GROUP BY GROUPING SETS (
    (g.evaluator),
    (g.evaluator, g.category),
    (g.evaluator, g.difficulty),
    (g.evaluator, g.model_type),
    (g.evaluator, t.tag)
)
"""
)
# GROUPING() masks for (category, difficulty, model_type, tag).
_CMP_EVALUATOR = 0b1111
_CMP_DIMENSION = {"category": 0b0111, "difficulty": 0b1011, "model_type": 0b1101}
_CMP_TAG = 0b1110

# The paired score deltas (B - A) of some evaluators, as one flat array each, for the
# bootstrap.
_DELTAS_SQL = (
    _PAIRS_CTE
    + """
SELECT p.evaluator, array_agg(p.delta)
FROM pairs p
WHERE p.delta IS NOT NULL AND p.evaluator = ANY(%(evaluators)s)
GROUP BY p.evaluator
"""
)

# What only paired cases can give: null when there are none.
_PAIRED_FIGURES = (
    "pass_rate_a",
    "pass_rate_b",
    "pass_rate_delta",
    "mean_score_a",
    "mean_score_b",
    "mean_score_delta",
    "mcnemar_p",
)


def _paired_counts(both_passed: int, both_failed: int, regressions: int, improvements: int,
                   only_a: int, only_b: int, mean_a: Any, mean_b: Any) -> dict:  # fmt: skip
    """Pass rates, means and their deltas over the paired cases, and McNemar's p; with no
    paired case every figure is None (INTERFACES.md: nothing compared, nothing to show)."""
    paired = both_passed + both_failed + regressions + improvements
    if not paired:
        return {
            "paired": 0,
            "both_passed": 0,
            "both_failed": 0,
            "regressions": 0,
            "improvements": 0,
            "only_in_a": only_a,
            "only_in_b": only_b,
            **dict.fromkeys(_PAIRED_FIGURES),
        }
    pass_a = rate(both_passed + regressions, paired)
    pass_b = rate(both_passed + improvements, paired)
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
def compare_runs(
    run_a: ModelRun,
    run_b: ModelRun,
    *,
    case_limit: int | None = None,
    auc_positive: str | bool | None = None,
) -> dict:
    """The comparison of two runs (INTERFACES.md "Comparison JSON") plus documented extras.

    Verdicts are paired by test case, evaluator by evaluator; pass rates and mean scores are
    over the paired cases (the intersection), so the deltas compare like with like.
    Extras: per evaluator ``mde`` (smallest pass-rate change this pairing detects at 80%
    power, alpha 0.05; null when too few pairs); ``selections_differ``; ``slices`` (per-slice
    deltas with Holm-adjusted McNemar p-values within each evaluator, ``significant_regression``
    where the adjusted p < 0.05 and regressions outnumber improvements); per case ``change``.
    ``cases`` lists every verdict pair, regressions first; ``case_limit`` caps it (the page
    pages through :func:`comparison_cases` instead). ``bootstrap_method`` names the interval:
    ``percentile``, or ``normal`` past ``stats.BOOTSTRAP_MAX_PAIRS`` deltas. ``auc``:
    :func:`.auc_comparison.auc_comparison`; ``auc_positive`` is what the caller already knows
    from the runs' reports: their positive label, False when either has no two-label
    probabilities (no statement then), None to work it out.
    """
    params = {"a": run_a.pk, "b": run_b.pk, **version_params(run_a, run_b)}
    evaluators: dict[str, dict] = {}
    moments: dict[str, tuple] = {}
    slices: list[dict] = []
    for row in fetch(_COMPARISON_SQL, params, settings=COMPARISON_SETTINGS):
        evaluator, grouping, category, difficulty, model_type, tag = row[:6]
        counts, tag_counts = row[6:14], row[14:22]
        if grouping == _CMP_EVALUATOR:
            evaluators[evaluator] = _paired_counts(*counts)
            moments[evaluator] = row[22:]
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

    intervals = _mean_delta_intervals(params, evaluators, moments)
    for evaluator, figures in evaluators.items():
        if not figures["paired"]:
            figures.update(
                bootstrap_ci95=None,
                bootstrap_method=None,
                mde=None,
                pass_rate_a_ci95=None,
                pass_rate_b_ci95=None,
            )
            continue
        interval = intervals[evaluator]
        figures["bootstrap_ci95"] = [interval.low, interval.high]
        figures["bootstrap_method"] = interval.method  # "percentile" or "normal" (large n)
        paired = figures["paired"]
        discordant = figures["regressions"] + figures["improvements"]
        figures["mde"] = stats.minimum_detectable_effect(paired, rate(discordant, paired))
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

    return {
        "a": run_summary(run_a),
        "b": run_summary(run_b),
        # Whether the runs were computed on different cases (their fixed case sets; the
        # selections as written may differ and still select the same cases), or were scored on
        # different ones.
        "selections_differ": not same_cases(run_a, run_b)
        or any(f["only_in_a"] or f["only_in_b"] for f in evaluators.values()),
        # The most cases any evaluator pairs: 0 means nothing to compare (every figure null).
        "paired": max((figures["paired"] for figures in evaluators.values()), default=0),
        "evaluators": dict(sorted(evaluators.items())),
        **trust_blocks(evaluators),
        "slices": slices,
        "cases": comparison_cases(run_a, run_b, limit=case_limit) if case_limit != 0 else [],
        "versions": _versions_block(run_a, run_b, params),
        # ROC AUC of both runs on their common scored cases, DeLong's test of the difference.
        "auc": (
            auc_comparison(run_a, run_b, auc_positive or None)
            if auc_positive is not False
            and evaluators.get(DOMAIN_EVALUATORS["classification"], {}).get("paired")
            else None
        ),
    }


def trust_blocks(evaluators: dict[str, dict]) -> dict:
    """The comparison's ``trust`` (per evaluator, extensions.trust_block) and the significant
    changes resting on a judge people do not trust (``untrusted_significant_changes``): read
    at each call, never stored with the figures (they move with any run's grading)."""
    trust = trust_block(evaluators)
    return {
        "trust": trust,
        "untrusted_significant_changes": untrusted_changes(evaluators, trust, ALPHA),
    }


def _mean_delta_intervals(
    params: dict, evaluators: dict[str, dict], moments: dict[str, tuple]
) -> dict[str, stats.MeanDeltaInterval]:
    """Per evaluator with paired cases, the interval of the mean delta: bootstrapped from the
    deltas up to ``stats.BOOTSTRAP_MAX_PAIRS`` pairs (fetched for those evaluators only), else
    the normal-theory interval from the moments the comparison statement summed."""
    intervals = {}
    small = []
    for evaluator, figures in evaluators.items():
        n = figures["paired"]
        if not n:
            continue
        if n <= stats.BOOTSTRAP_MAX_PAIRS:
            small.append(evaluator)
            continue
        total, total_sq, lowest, highest = (float(value) for value in moments[evaluator])
        mean = total / n
        variance = max(0.0, (total_sq - total * mean) / (n - 1))
        intervals[evaluator] = stats.normal_mean_interval(
            n, mean, math.sqrt(variance), lowest, highest
        )
    if small:
        deltas = dict(fetch(_DELTAS_SQL, {**params, "evaluators": small}))
        for evaluator in small:
            sample = np.asarray(deltas.get(evaluator) or [], dtype=np.float64)
            intervals[evaluator] = stats.paired_bootstrap_ci(sample)
    return intervals


def _versions_block(run_a: ModelRun, run_b: ModelRun, params: dict) -> dict | None:
    """{"a", "b", "changed_cases_left_out"} for runs on golden-set versions, else None."""
    if not (run_a.version_id or run_b.version_id):
        return None
    left_out = 0
    if params["va"] is not None:
        left_out = fetch(f"SELECT count(*) FROM ({CHANGED_IN_VERSIONS}) AS changed", params)[0][0]
    return {
        "a": run_a.version.as_ref() if run_a.version_id else None,
        "b": run_b.version.as_ref() if run_b.version_id else None,
        "changed_cases_left_out": left_out,
    }


def same_cases(run_a: ModelRun, run_b: ModelRun) -> bool:
    """Computed on the same cases: equal case-set hashes (runs without fixed cases fall back to
    their selections, compared in their canonical form)."""
    if run_a.cases_hash and run_b.cases_hash:
        return run_a.cases_hash == run_b.cases_hash
    return run_a.selection == run_b.selection
