from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.generic import DetailView, FormView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from cases.models import TestCase
from evaluations import exports, reports
from evaluations.evaluators.docs import evaluators_page
from evaluations.filters import ComparisonCasesForm, FailingCasesForm, RunPairForm, error_text
from evaluations.forms import EvaluateRunForm
from evaluations.models import Evaluation
from evaluations.tasks import enqueue_evaluation
from mleval_site.pagination import EstimatedCountPaginator
from runs.models import ModelRun

# --- reports: run report, comparison, leaderboard, case history ----------------------------
# Thin views: every figure comes from evaluations.reports; `?format=json|csv` on any report
# page downloads the same dict the page renders (evaluations.exports).

REPORT_PERMISSIONS = ("runs.view_modelrun", "evaluations.view_evaluation")
EXPORT_FORMATS = ("json", "csv")


class ExportMixin:
    """`?format=json|csv` turns a report page into a download of the dict it renders."""

    export_header = exports.LONG_COLUMNS

    def export_format(self) -> str | None:
        fmt = self.request.GET.get("format", "")
        return fmt if fmt not in ("", "html") else None

    def export(self, data: dict, rows, filename: str) -> HttpResponse:
        fmt = self.export_format()
        if fmt == "json":
            response = HttpResponse(exports.to_json(data), content_type="application/json")
        else:
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            exports.write_csv(rows, response, self.export_header)
        response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
        return response

    def dispatch(self, request, *args, **kwargs):
        fmt = self.export_format()
        if fmt is not None and fmt not in EXPORT_FORMATS:
            return HttpResponseBadRequest(
                f"Unknown format {fmt!r}: use format=json or format=csv (or none for the page).",
                content_type="text/plain; charset=utf-8",
            )
        return super().dispatch(request, *args, **kwargs)


def _bad_request(text: str) -> HttpResponse:
    # Plain text: the message may echo the query string.
    return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")


class RunReportView(PermissionRequiredMixin, ExportMixin, DetailView):
    """/runs/<id>/report/: the run report; its failing-cases table pages through htmx."""

    model = ModelRun
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/run_report.html"
    context_object_name = "run"
    failing_per_page = 25

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        self.filters = FailingCasesForm(request.GET)
        if not self.filters.is_valid():
            return _bad_request(error_text(self.filters))
        if self.export_format():
            report = reports.build_run_report(self.object)
            return self.export(report, exports.report_rows(report), f"run-{self.object.pk}-report")
        if request.htmx and request.htmx.target == "failing":
            return render(request, "evaluations/_failing_cases.html", self.failing_context())
        return self.render_to_response(self.get_context_data())

    def failing_context(self, report: dict | None = None) -> dict:
        evaluator = self.filters.cleaned_data["evaluator"]
        slices = self.filters.slices()
        queryset = reports.failing_evaluations(self.object, evaluator or None, **slices)
        paginator = EstimatedCountPaginator(queryset, self.failing_per_page)
        if report is not None and not evaluator and not any(slices.values()):
            # Unfiltered, the report already counted them: no count query.
            paginator.count = sum(e["count"] - e["passed"] for e in report["evaluators"].values())
        page = paginator.get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        return {
            "run": self.object,
            "page_obj": page,
            "paginator": paginator,
            "filter_query": query.urlencode(),
            "selected": {"evaluator": evaluator, **slices},
        }

    def get_context_data(self, **kwargs):
        report = reports.build_run_report(self.object)
        slice_charts = [
            {
                "dimension": dimension,
                "evaluator": evaluator,
                "rows": [
                    {"label": row["value"], "rate": row["pass_rate"], "count": row["count"]}
                    for row in sorted(rows, key=lambda r: (-r["count"], str(r["value"])))
                    if row["evaluator"] == evaluator
                ],
            }
            for dimension, rows in report["breakdowns"].items()
            for evaluator in report["evaluators"]
            if len({row["value"] for row in rows}) > 1
        ]
        return super().get_context_data(
            report=report,
            slice_charts=slice_charts,
            selection_label=reports.selection_label(report["run"]["selection"]),
            **self.failing_context(report),
            **kwargs,
        )


class _CaseRows:
    """Rows of the comparison's per-case table, one page at a time (no count query)."""

    def __init__(self, run_a: ModelRun, run_b: ModelRun, evaluator: str, change: str) -> None:
        self.args = (run_a, run_b)
        self.filters = {"evaluator": evaluator or None, "change": change or None}

    def page(self, number: int, per_page: int) -> tuple[list[dict], bool]:
        rows = reports.comparison_cases(
            *self.args, **self.filters, limit=per_page + 1, offset=(number - 1) * per_page
        )
        return rows[:per_page], len(rows) > per_page


class CompareView(PermissionRequiredMixin, ExportMixin, TemplateView):
    """/runs/compare/?a=&b=: two runs paired by case, with significance; a picker without."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/compare.html"
    cases_per_page = 50

    def get(self, request, *args, **kwargs):
        self.errors: list[str] = []
        self.run_a, self.run_b = self._runs()
        self.case_filters = ComparisonCasesForm(request.GET)
        if not self.case_filters.is_valid():
            return _bad_request(error_text(self.case_filters))
        if self.export_format():
            if self.errors or not self.run_a:
                return _bad_request(" ".join(self.errors) or "Give two runs: ?a=&b=.")
            comparison = reports.compare_runs(self.run_a, self.run_b)
            return self.export(
                comparison,
                exports.comparison_rows(comparison),
                f"compare-{self.run_a.pk}-{self.run_b.pk}",
            )
        if request.htmx and request.htmx.target == "compare-cases" and self.run_a:
            return render(request, "evaluations/_compare_cases.html", self.cases_context())
        status = 400 if self.errors else 200
        return self.render_to_response(self.get_context_data(), status=status)

    def _runs(self) -> tuple[ModelRun | None, ModelRun | None]:
        """The two runs of ?a=&b=, or none (the picker) when neither is given."""
        if not any(self.request.GET.get(side, "").strip() for side in ("a", "b")):
            return None, None
        form = RunPairForm(self.request.GET)
        if not form.is_valid():
            self.errors.extend(form.messages())
            return None, None
        return form.runs()

    def cases_context(self) -> dict:
        evaluator = self.case_filters.cleaned_data["evaluator"]
        change = self.case_filters.cleaned_data["change"]
        try:
            number = max(1, int(self.request.GET.get("page", 1)))
        except ValueError:
            number = 1
        rows, has_next = _CaseRows(self.run_a, self.run_b, evaluator, change).page(
            number, self.cases_per_page
        )
        query = self.request.GET.copy()
        query.pop("page", None)
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "case_rows": rows,
            "page_number": number,
            "has_next": has_next,
            "filter_query": query.urlencode(),
            "selected": {"evaluator": evaluator, "change": change},
            "change_kinds": reports.CHANGE_KINDS,
        }

    def get_context_data(self, **kwargs):
        context = {
            "errors": self.errors,
            "recent_runs": ModelRun.objects.order_by("-created_at", "-id")[:200],
            "selected_a": self.request.GET.get("a", ""),
            "selected_b": self.request.GET.get("b", ""),
        }
        if self.run_a:
            comparison = reports.compare_runs(self.run_a, self.run_b, case_limit=0)
            context.update(
                comparison=comparison,
                selection_a=reports.selection_label(comparison["a"]["selection"]),
                selection_b=reports.selection_label(comparison["b"]["selection"]),
                slices=sorted(
                    comparison["slices"],
                    key=lambda r: (not r["significant_regression"], r["mcnemar_p_holm"]),
                )[:100],
                **self.cases_context(),
            )
        return super().get_context_data(**context, **kwargs)


class LeaderboardView(PermissionRequiredMixin, ExportMixin, TemplateView):
    """/leaderboard/: runs grouped by model type and selection, ranked by an evaluator."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/leaderboard.html"
    export_header = exports.LEADERBOARD_COLUMNS

    def get(self, request, *args, **kwargs):
        self.board = reports.build_leaderboard(
            model_type=request.GET.get("model_type", "").strip() or None,
            evaluator=request.GET.get("evaluator", "").strip() or None,
        )
        if self.export_format():
            return self.export(self.board, exports.leaderboard_rows(self.board), "leaderboard")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(board=self.board, **kwargs)


class CaseHistoryView(PermissionRequiredMixin, TemplateView):
    """/reports/cases/<id>/history/: the fragment the case page loads with hx-get."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/_case_history.html"

    def get_context_data(self, **kwargs):
        case = get_object_or_404(TestCase.objects.only("id"), pk=self.kwargs["pk"])
        return super().get_context_data(
            case_id=case.pk, history=reports.case_history(case.pk), **kwargs
        )


# --- scoring: the evaluators page, a run's "Evaluate" form and its progress panel ----------
# Scoring itself happens in evaluations.pipeline (queued through evaluations.tasks).

CURATION_ERROR_CASES_SHOWN = 20


class EvaluatorsView(PermissionRequiredMixin, TemplateView):
    """/evaluators/: what each evaluator expects, its parameters, and an example verdict."""

    permission_required = "evaluations.view_evaluation"
    template_name = "evaluations/evaluators.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(page=evaluators_page(), **kwargs)


def evaluation_panel_context(run: ModelRun, user, form: EvaluateRunForm | None = None) -> dict:
    """The run page's evaluation panel: the latest job's progress; once nothing is running,
    the verdicts per evaluator, the curation errors and (for engineers) the Evaluate form."""
    job = run.evaluation_jobs.order_by("-id").first()
    active = job is not None and not job.is_finished
    context = {"run": run, "job": job, "active": active}
    if active:
        return context
    evaluations = Evaluation.objects.for_run(run)
    errors = evaluations.curation_errors()
    can_evaluate = user.has_perm("evaluations.add_evaluation")
    context.update(
        verdicts=reports.verdict_figures([run.pk])[run.pk]["evaluators"],
        curation_error_count=errors.count(),
        curation_error_cases=list(
            errors.order_by("response__test_case_id")
            .values_list("response__test_case_id", flat=True)
            .distinct()[:CURATION_ERROR_CASES_SHOWN]
        ),
        can_evaluate=can_evaluate,
        form=form if form is not None else (EvaluateRunForm(run=run) if can_evaluate else None),
    )
    return context


class EvaluationPanelView(PermissionRequiredMixin, DetailView):
    """/runs/<id>/evaluation/: the panel fragment the run page loads (and polls) with htmx."""

    model = ModelRun
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/_evaluation_panel.html"

    def get_context_data(self, **kwargs):
        return evaluation_panel_context(self.object, self.request.user)


class EvaluateRunView(PermissionRequiredMixin, SingleObjectMixin, FormView):
    """/runs/<id>/evaluate/: queue the scoring of a run (engineers). The panel's form posts
    here with htmx and gets the panel back; without htmx, a page with the form and progress."""

    model = ModelRun
    permission_required = "evaluations.add_evaluation"
    form_class = EvaluateRunForm
    template_name = "evaluations/evaluate_run.html"
    context_object_name = "run"

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        return super().post(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "run": self.object}

    def get_context_data(self, **kwargs):
        form = kwargs.pop("form", None)
        return {**kwargs, **evaluation_panel_context(self.object, self.request.user, form)}

    def form_valid(self, form):
        job = enqueue_evaluation(self.object, form.planned, self.request.user)
        if self.request.htmx:
            return render(
                self.request,
                "evaluations/_evaluation_panel.html",
                evaluation_panel_context(self.object, self.request.user),
            )
        messages.success(self.request, f"Evaluation job {job.pk} queued.")
        return redirect(self.request.path)

    def form_invalid(self, form):
        if self.request.htmx:
            return render(
                self.request,
                "evaluations/_evaluation_panel.html",
                evaluation_panel_context(self.object, self.request.user, form),
            )
        return super().form_invalid(form)
