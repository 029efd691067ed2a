"""The leaderboard: runs grouped by model type and the cases they were computed on (their
fixed case set, `ModelRun.cases_hash`, or their golden-set version), ranked by an evaluator.

Two runs whose selections are written differently but select the same cases share a group;
two runs of one selection registered before and after cases were added do not. A group says
when its runs were registered with different selections, or were scored on different numbers
of cases.

Every figure of a row is the run's own (:mod:`.figures`, read for all runs at once); this
module only groups, chooses the ranking evaluator and ranks. A repeated-trials group is one
row (:func:`.trials.collapse_trials`): its first trial's run, the mean pass rate over its k
trials, and ``trials`` (``k`` and the trials' run ids).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence

from evaluations.reports.common import run_summary, selection_label
from evaluations.reports.figures import response_figures, verdict_figures
from evaluations.reports.trials import collapse_trials
from mleval_site.db_router import reading_from_replica
from runs.models import ModelRun

__all__ = ["build_leaderboard"]

# A row's figures when the run has no verdict of the group's evaluator.
_ROW_FIGURES = ("count", "passed", "pass_rate", "pass_rate_ci95", "mean_score")
_UNRANKED = {**dict.fromkeys(_ROW_FIGURES), "count": 0, "passed": 0}


def live_figures(runs: Sequence[ModelRun]) -> dict[int, dict]:
    """Per run id: ``evaluators``, ``latency_ms`` and ``tokens``, computed now (two queries)."""
    ids = [run.pk for run in runs]
    verdicts = verdict_figures(ids)
    return {
        run_id: {**verdicts[run_id], **figures} for run_id, figures in response_figures(ids).items()
    }


@reading_from_replica()
def build_leaderboard(
    model_type: str | None = None,
    evaluator: str | None = None,
    *,
    figures: Callable[[list[ModelRun]], dict[int, dict]] = live_figures,
) -> dict:
    """Runs grouped by model type and selection, ranked by an evaluator's pass rate.

    Each group ranks by ``evaluator`` when its runs have it, else by the evaluator most of
    the group's runs have. Runs without verdicts for the ranking evaluator are listed after
    the ranked ones. ``trends`` gives each model name's pass rate by version (in the order the
    runs were registered) for the chart. Three queries whatever the number of runs.
    """
    runs = ModelRun.objects.select_related("version").order_by("created_at", "id")
    if model_type:
        runs = runs.filter(model_type=model_type)
    runs = list(runs)
    runs, responses = collapse_trials(runs, figures(runs))
    per_run = {run_id: f["evaluators"] for run_id, f in responses.items()}

    # A golden-set version is its own group: runs on it rank together, never mixed with runs
    # on a plain selection (whose cases may have changed between them) or on another version.
    groups: dict[tuple[str, str], list[ModelRun]] = defaultdict(list)
    for run in runs:
        if per_run.get(run.pk):
            groups[(run.model_type, case_set_key(run))].append(run)

    result = []
    for (group_type, _key), members in sorted(
        groups.items(), key=lambda item: (item[0][0], item[1][0].created_at, item[1][0].pk)
    ):
        chosen = _group_evaluator(members, per_run, evaluator)
        rows = []
        for run in members:
            ranked = per_run[run.pk].get(chosen)
            served = responses[run.pk]
            rows.append(
                {
                    "run": run_summary(run),
                    "evaluator": chosen if ranked else None,
                    **({key: ranked[key] for key in _ROW_FIGURES} if ranked else _UNRANKED),
                    "latency_p95": served["latency_ms"]["p95"],
                    "tokens_total": served["tokens"]["total"],
                    "tokens_mean": served["tokens"]["mean"],
                    "evaluators": sorted(per_run[run.pk]),
                    "trials": served.get("trials"),
                    **({"summary": served["summary"]} if "summary" in served else {}),
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
            chosen_figures = per_run[run.pk].get(chosen)
            if chosen_figures:
                trends[run.model_name].append(
                    {
                        "run_id": run.pk,
                        "model_version": run.model_version,
                        "pass_rate": chosen_figures["pass_rate"],
                    }
                )
        selections = []
        for run in members:
            if group_selection(run) not in selections:
                selections.append(group_selection(run))
        # A trial group's row counts its k trials' verdicts: compared per trial.
        counts = sorted(
            {
                round(row["count"] / (row["trials"]["k"] if row["trials"] else 1))
                for row in rows
                if row["pass_rate"] is not None
            }
        )
        result.append(
            {
                "model_type": group_type,
                "selection": group_selection(members[0]),
                "selection_label": selection_label(group_selection(members[0])),
                "version": members[0].version.as_ref() if members[0].version_id else None,
                "cases": members[0].total_cases,
                "selections_differ": len(selections) > 1,
                "selection_labels": [selection_label(selection) for selection in selections],
                "verdict_counts_differ": len(counts) > 1,
                "verdict_counts": [counts[0], counts[-1]] if counts else None,
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


def group_selection(run: ModelRun) -> dict:
    """What the leaderboard names a run's cases by: its golden-set version, or its selection."""
    return {"version": run.version.name} if run.version_id else run.selection


def case_set_key(run: ModelRun) -> str:
    """What groups runs: their golden-set version (its cases and their contents), else the hash
    of the cases they were computed on; a run with neither (made outside register_run) falls
    back to its selection."""
    if run.version_id:
        return f"version:{run.version_id}"
    if run.cases_hash:
        return f"cases:{run.cases_hash}"
    return "selection:" + json.dumps(run.selection, sort_keys=True)


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
