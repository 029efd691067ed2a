"""/models/ and /models/<name>/: model names and versions as runs spell them, with a trend.

Models are strings on runs (model_name, model_version), so these pages group runs; the figures
come from the run summaries (evaluations.summaries.current_figures), the reports' own numbers.
"""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import Count, Max
from django.http import Http404
from django.views.generic import TemplateView

from evaluations import summaries
from runs.models import ModelRun

REPORT_PERMISSIONS = ("runs.view_modelrun", "evaluations.view_evaluation")
CHART_WIDTH, CHART_HEIGHT = 480, 120


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


def model_trend(name: str) -> dict:
    """The model's runs with their headline figures, and per version (oldest first) the newest
    run's pass rate of the main evaluator, its 95% interval and latency p95."""
    runs = list(ModelRun.objects.filter(model_name=name).order_by("created_at", "id"))
    if not runs:
        raise Http404(f"No runs of a model named {name!r}.")
    figures = summaries.current_figures(runs)
    evaluator = main_evaluator(figures)
    rows = []
    for run in runs:
        scored = figures[run.pk]["evaluators"].get(evaluator) or {}
        rows.append(
            {
                "run": run,
                "pass_rate": scored.get("pass_rate"),
                "ci95": scored.get("pass_rate_ci95"),
                "latency_p95": figures[run.pk]["latency_ms"]["p95"],
            }
        )
    newest = {row["run"].model_version: row for row in rows}  # later runs overwrite
    trend = sorted(newest.values(), key=lambda row: (row["run"].created_at, row["run"].pk))
    return {
        "name": name,
        "evaluator": evaluator,
        "rows": rows[::-1],
        "trend": trend,
        "chart": trend_chart(trend),
    }


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


class ModelListView(PermissionRequiredMixin, TemplateView):
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/models.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(models=model_list(), **kwargs)


class ModelDetailView(PermissionRequiredMixin, TemplateView):
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/model_detail.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(model=model_trend(self.kwargs["name"]), **kwargs)
