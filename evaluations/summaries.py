"""Run summaries, served: each run's report figures computed once, stored, and served while
current; comparisons cached the same way. Storing and versions: evaluations.summary_store.

A run's figures change only when its data does; a stored figure is *current* only while the
data version it was computed from is the run's version now (summary_store explains the
versions).

Reading (:func:`run_report`, :func:`current_figures`): a current summary is served as is; a
stale one is served with ``summary.state`` "computing" (the page says "updating…") and a
refresh is queued for the worker (:func:`~evaluations.summary_store.request_refresh`,
deduplicated per version); a run never summarized is computed on the spot, as before
summaries. Comparisons are cached keyed by both runs' data versions (:func:`comparison`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.utils import timezone

from evaluations.models import ComparisonSummary, RunSummary
from evaluations.reports import compare_runs, comparison_cases
from evaluations.reports.common import run_summary
from evaluations.reports.comparison import trust_blocks
from evaluations.reports.figures import response_figures, verdict_figures
from evaluations.reports.run_report import assemble_report
from evaluations.summary_store import (
    COMPUTING,
    FRESH,
    STALE,
    compute_summary,
    data_versions,
    dump_figures,
    request_refresh,
    status_block,
    stored_summaries,
    summary_state,
)
from runs.models import ModelRun


def _read(run: ModelRun) -> tuple[RunSummary, str, int]:
    """The run's summary, computed now if it never was, and a refresh queued if stale. One
    query for a current summary."""
    summary, version, cases_version = stored_summaries([run.pk])[run.pk]
    if summary is None:
        summary = compute_summary(run, (version, cases_version))
    state = summary_state(summary, version, cases_version)
    if state == STALE and request_refresh([run.pk], throttle=True):
        summary.requested_version, summary.requested_cases_version = version, cases_version
        state = COMPUTING
    return summary, state, version


def run_report(run: ModelRun) -> dict:
    """The run report (:func:`evaluations.reports.build_run_report`'s dict) from the run's
    summary, plus ``summary``: state (fresh, or computing: the last figures while the worker
    recomputes), the data version its figures are from, the run's now, computed_at."""
    summary, state, version = _read(run)
    report = assemble_report(run, json.loads(summary.figures), json.loads(summary.drift))
    report["summary"] = status_block(summary, state, version)
    return report


def current_figures(runs: Iterable[ModelRun]) -> dict[int, dict]:
    """Per run: ``evaluators`` (per evaluator count, passed, pass_rate, pass_rate_ci95,
    mean_score), ``latency_ms``, ``tokens`` and ``summary`` (as in :func:`run_report`): the
    leaderboard's figures. Summarized runs are read from their summaries (stale ones served
    as they are, marked computing, and queued for a refresh); the others are computed live
    in two queries for all of them, and queued."""
    runs = list(runs)
    ids = [run.pk for run in runs]
    stored = stored_summaries(ids)
    versions = {run_id: version for run_id, (_, version, _) in stored.items()}
    result: dict[int, dict] = {}
    stale = []
    for run_id in ids:
        summary, version, cases_version = stored[run_id]
        if summary is None:
            continue
        figures = json.loads(summary.figures)
        state = summary_state(summary, version, cases_version)
        if state == STALE:
            stale.append(run_id)
            state = COMPUTING
        result[run_id] = {
            "evaluators": figures["evaluators"],
            "latency_ms": figures["latency_ms"],
            "tokens": figures["tokens"],
            "summary": status_block(summary, state, versions[run_id]),
        }
    missing = [run_id for run_id in ids if run_id not in result]
    if missing:
        verdicts = verdict_figures(missing)
        served = response_figures(missing)
        for run_id in missing:
            result[run_id] = {
                **verdicts[run_id],
                "latency_ms": served[run_id]["latency_ms"],
                "tokens": served[run_id]["tokens"],
                "summary": status_block(None, FRESH, versions[run_id]),
            }
    request_refresh(set(stale + missing), throttle=True)
    return result


def run_verdicts(run: ModelRun) -> dict[str, dict]:
    """The run panel's verdicts per evaluator (:func:`evaluations.reports.verdict_figures`):
    from the run's summary while it is current, else counted now (the panel is polled right
    after scoring, before the worker has refreshed the summary). One query, or two."""
    summary, version, _ = stored_summaries([run.pk])[run.pk]
    if summary is not None and summary.version == version:
        return json.loads(summary.figures)["evaluators"]
    return verdict_figures([run.pk])[run.pk]["evaluators"]


def failing_count(run: ModelRun) -> int | None:
    """How many of the run's verdicts failed, from its summary while current (the failing
    cases' pager needs no count query then); None otherwise. One query."""
    summary, version, _ = stored_summaries([run.pk])[run.pk]
    if summary is None or summary.version != version:
        return None
    evaluators = json.loads(summary.figures)["evaluators"]
    return sum(entry["count"] - entry["passed"] for entry in evaluators.values())


def _auc_positive(run_a: ModelRun, run_b: ModelRun, versions: dict[int, int]) -> str | bool | None:
    """What the runs' current summaries say about the comparison's AUC: run A's positive label
    when both have two-label probabilities, False when either has none (the comparison then
    reads no scores), None when a summary is not current (the comparison works it out)."""
    stored = stored_summaries([run_a.pk, run_b.pk])
    blocks = []
    for run in (run_a, run_b):
        summary = stored[run.pk][0]
        if summary is None or summary.version != versions[run.pk]:
            return None
        classification = json.loads(summary.figures).get("classification") or {}
        blocks.append(classification.get("scores") or {})
    if not all(block.get("kind") == "binary" for block in blocks):
        return False
    return blocks[0]["positive_label"]


# A comparison's blocks not stored with its figures (summaries.comparison reads them anew).
_READ_NOW = ("a", "b", "cases", "trust", "untrusted_significant_changes")


def comparison(run_a: ModelRun, run_b: ModelRun, *, case_limit: int | None = None) -> dict:
    """:func:`evaluations.reports.compare_runs`, cached per pair of data versions: the first
    call computes it (as before), later ones read it until either run's data changes.
    ``cases`` stay a live query (:func:`evaluations.reports.comparison_cases`)."""
    versions = data_versions([run_a.pk, run_b.pk])
    version_a, version_b = versions[run_a.pk], versions[run_b.pk]
    cached = ComparisonSummary.objects.filter(
        run_a=run_a, run_b=run_b, version_a=version_a, version_b=version_b
    ).first()
    if cached is not None:
        figures = json.loads(cached.figures)
        trust = trust_blocks(figures["evaluators"])
    else:
        # From the primary, whatever the caller reads from: the versions are the primary's.
        computed = compare_runs.__wrapped__(
            run_a, run_b, case_limit=0, auc_positive=_auc_positive(run_a, run_b, versions)
        )
        trust = {key: computed[key] for key in ("trust", "untrusted_significant_changes")}
        # All but what is read now: the runs' own blocks, trust and the live case list.
        figures = {key: value for key, value in computed.items() if key not in _READ_NOW}
        ComparisonSummary.objects.update_or_create(
            run_a=run_a,
            run_b=run_b,
            defaults={
                "version_a": version_a,
                "version_b": version_b,
                "figures": dump_figures(figures),
                "computed_at": timezone.now(),
            },
        )
        figures = json.loads(dump_figures(figures))
    return {
        "a": run_summary(run_a),
        "b": run_summary(run_b),
        **figures,
        **trust,
        "cases": comparison_cases(run_a, run_b, limit=case_limit) if case_limit != 0 else [],
    }
