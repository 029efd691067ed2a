"""The figures of /models/ and /models/<name>/: models as runs spell them, grouped.

Models are strings on runs (model_name, model_version), so these pages group runs; the figures
come from the run summaries (:func:`evaluations.summaries.current_figures`), the reports' own
numbers, and the cost from runs.costs (the one cost rule).
"""

from __future__ import annotations

from django.db.models import Count, Max
from django.http import Http404

from evaluations import summaries
from evaluations.reports.common import selection_label
from evaluations.reports.trials import collapse_trials
from runs.costs import cost_per_thousand_cases
from runs.lineage import ModelVersion, lineage_tree
from runs.models import ModelRun

CHART_WIDTH, CHART_HEIGHT = 480, 120
# The lineage tree is indented with text (the CSP allows no inline style): three no-break
# spaces a generation, up to 30 generations deep.
INDENT, MAX_INDENT = "\u00a0" * 3, 30
# A model run by CI on every commit has thousands of runs: the page shows the newest (the runs
# list, filtered by the model, has them all), so its size does not grow with them.
SHOWN_RUNS, SHOWN_VERSIONS = 50, 50


def model_list() -> list[dict]:
    """Every model name with its versions, newest first (by their latest run), in two queries."""
    models = {
        row["model_name"]: {**row, "versions": []}
        for row in ModelRun.objects.values("model_name")
        .annotate(runs=Count("id"), latest=Max("created_at"))
        .order_by("model_name")
    }
    versions = (
        ModelRun.objects.values("model_name", "model_version")
        .annotate(latest=Max("created_at"))
        .order_by("model_name", "-latest", "model_version")
    )
    for row in versions:
        models[row["model_name"]]["versions"].append(row["model_version"])
    return list(models.values())


def main_evaluator(figures: dict[int, dict]) -> str:
    """The evaluator with the most verdicts over all the model's runs (ties: by name)."""
    counts: dict[str, int] = {}
    for run_figures in figures.values():
        for name, evaluator in run_figures["evaluators"].items():
            counts[name] = counts.get(name, 0) + evaluator["count"]
    return min(counts, key=lambda name: (-counts[name], name), default="")


def case_set_key(run: ModelRun) -> tuple:
    """What runs computed on the same cases share: the golden-set version, else the fixed case
    set, else (a run without one) the selection as recorded (runs.baselines' key)."""
    if run.version_id:
        return ("version", run.version_id)
    if run.cases_hash:
        return ("cases", run.cases_hash)
    return ("selection", selection_label(run.selection))


def case_set_label(run: ModelRun) -> str:
    if run.version_id:
        return f"golden-set version {run.version.name}"
    label = selection_label(run.selection) or "every case"
    if run.cases_hash:
        return f"case set {run.cases_hash[:8]} ({run.total_cases:,} cases: {label})"
    return f"selection {label}"


def model_trend(name: str) -> dict:
    """The model's runs with their headline figures (newest first), the same grouped by case
    set with each group's baseline, per version (oldest first, the ``SHOWN_VERSIONS`` newest)
    the newest run's pass rate of the main evaluator with its 95% interval, latency p95 and
    cost per 1,000 cases, and the lineage tree of the model's versions."""
    runs = list(
        ModelRun.objects.filter(model_name=name)
        .select_related("version")
        .order_by("created_at", "id")
    )
    if not runs:
        raise Http404(f"No runs of a model named {name!r}.")
    # A repeated-trials group is one row: its first trial, figures over its trials.
    runs, figures = collapse_trials(runs, summaries.current_figures(runs))
    evaluator = main_evaluator(figures)
    rows = []
    for run in runs:
        scored = figures[run.pk]["evaluators"].get(evaluator) or {}
        tokens = figures[run.pk]["tokens"]
        rows.append(
            {
                "run": run,
                "pass_rate": scored.get("pass_rate"),
                "ci95": scored.get("pass_rate_ci95"),
                "latency_p95": figures[run.pk]["latency_ms"]["p95"],
                "tokens_mean": tokens["mean"],
                "cost_per_1000": cost_per_thousand_cases(tokens["mean"], run.config),
                "current": figures[run.pk]["summary"]["state"] == summaries.FRESH,
                "trials": figures[run.pk].get("trials"),
            }
        )
    newest = {row["run"].model_version: row for row in rows}  # later runs overwrite
    trend = sorted(newest.values(), key=lambda row: (row["run"].created_at, row["run"].pk))
    trend = trend[-SHOWN_VERSIONS:]
    family = ModelVersion.family(name)
    by_id = {row.pk: row for row in family}
    nodes = {row.model_version: row for row in family if row.model_name == name}
    for row in trend:  # each version's parent, from the family (it holds every ancestor)
        node = nodes.get(row["run"].model_version)
        row["lineage"] = node
        row["parent"] = by_id.get(node.parent_id) if node else None
    return {
        "name": name,
        "evaluator": evaluator,
        "rows": rows[::-1],
        "groups": group_by_case_set(rows[::-1]),
        "trend": trend,
        "chart": trend_chart(trend),
        "versions": sorted(newest, key=lambda v: (newest[v]["run"].created_at, v), reverse=True),
        "lineage": [
            {
                **row,
                "indent": INDENT * min(row["depth"], MAX_INDENT),
                "parent": by_id.get(row["node"].parent_id),
            }
            for row in lineage_tree(family)
        ],
    }


def group_by_case_set(rows: list[dict]) -> list[dict]:
    """Rows (newest first) grouped by :func:`case_set_key`, the group of the newest run first;
    per group its run count, its ``SHOWN_RUNS`` newest rows (and its baseline row, however
    old), and the baseline row (None if none is marked). How a newer run compares with the
    baseline is the comparison's to say (the run page, :mod:`evaluations.model_pages`)."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        run = row["run"]
        group = groups.setdefault(
            case_set_key(run),
            {"label": case_set_label(run), "rows": [], "count": 0, "baseline": None},
        )
        group["count"] += 1
        if group["count"] <= SHOWN_RUNS or run.baseline_since:
            group["rows"].append(row)
        if run.baseline_since:
            group["baseline"] = row
    return list(groups.values())


def trend_chart(trend: list[dict]) -> dict:
    """Server-computed SVG coordinates: pass rate (0-1) with interval whiskers, latency p95
    scaled to its own maximum."""
    step = CHART_WIDTH / max(len(trend) - 1, 1)
    top_latency = max((row["latency_p95"] or 0 for row in trend), default=0) or 1

    def y(share: float) -> float:
        return round(CHART_HEIGHT - 4 - share * (CHART_HEIGHT - 8), 1)

    points, whiskers, latency = [], [], []
    for index, row in enumerate(trend):
        x = round(index * step, 1)
        if row["pass_rate"] is not None:
            points.append(f"{x},{y(row['pass_rate'])}")
            if row["ci95"]:
                low, high = row["ci95"]
                whiskers.append({"x": x, "y1": y(low), "y2": y(high)})
        if row["latency_p95"] is not None:
            latency.append(f"{x},{y(row['latency_p95'] / top_latency)}")
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pass_rate": " ".join(points),
        "whiskers": whiskers,
        "latency": " ".join(latency),
        "top_latency": top_latency,
    }
