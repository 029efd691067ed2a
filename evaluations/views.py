"""Report pages: run report, comparison, leaderboard, case history (the scoring pages:
evaluations.scoring_views)."""

from __future__ import annotations

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.views.generic import DetailView, TemplateView

from cases.models import TestCase
from evaluations import exports, reports, summaries
from evaluations.filters import ComparisonCasesForm, FailingCasesForm, RunPairForm, error_text
from mleval_site.generic import CSV, JSON, ExportMixin, FilterQueryMixin, PartialMixin
from mleval_site.pagination import BadCursor, keyset_page
from runs.models import ModelRun

# --- reports: run report, comparison, leaderboard, case history ----------------------------
# Thin views: every figure comes from evaluations.reports, every parameter is parsed by
# evaluations.filters; `?format=json|csv` on any report page downloads the same dict the page
# renders (evaluations.exports, through mleval_site.generic.ExportMixin).

REPORT_PERMISSIONS = ("runs.view_modelrun", "evaluations.view_evaluation")


def _bad_request(text: str) -> HttpResponse:
    # Plain text: the message may echo the query string.
    return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")


class ReportExportMixin(ExportMixin):
    """JSON or long CSV (exports.LONG_COLUMNS) of the dict ``export_data()`` returns."""

    export_formats = {"json": JSON, "csv": CSV}  # in the order the 400 names them
    export_header = exports.LONG_COLUMNS
    export_audit_action = "report.export"

    def export_data(self) -> dict:
        raise NotImplementedError

    def export_rows(self, data: dict):
        raise NotImplementedError

    def export_content(self, fmt: str) -> str:
        data = self.export_data()
        if fmt == "json":
            return exports.to_json(data)
        return exports.to_csv(self.export_rows(data), self.export_header)


class RunReportView(
    PermissionRequiredMixin, PartialMixin, FilterQueryMixin, ReportExportMixin, DetailView
):
    """/runs/<id>/report/: the run report; its failing-cases table pages through htmx."""

    model = ModelRun
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/run_report.html"
    partial_template_name = "evaluations/_failing_cases.html"
    htmx_target = "failing"
    context_object_name = "run"
    failing_per_page = 25
    paging_params = ("page", "after", "before", "last")

    def get(self, request, *args, **kwargs):
        self.filters = FailingCasesForm(request.GET)
        if not self.filters.is_valid():
            return _bad_request(error_text(self.filters))
        return super().get(request, *args, **kwargs)

    def get_object(self, queryset=None) -> ModelRun:
        # Once per request: the export and the page both ask.
        if getattr(self, "object", None) is None:
            self.object = super().get_object(queryset)
        return self.object

    def get_export_filename(self, fmt: str) -> str:
        return f"run-{self.get_object().pk}-report.{fmt}"

    def export_data(self) -> dict:
        return summaries.run_report(self.get_object())

    def export_rows(self, data: dict):
        return exports.report_rows(data)

    def selected(self) -> dict:
        return {"evaluator": self.filters.cleaned_data["evaluator"], **self.filters.slices()}

    def failing_context(self) -> dict:
        """The failing-cases fragment: a live query, keyset-paged (a page walks the
        worst-first index, whatever the run's size); its count from the run's summary when
        unfiltered and current (no count query), else exact up to a limit, then estimated."""
        selected = self.selected()
        evaluator, slices = selected["evaluator"], self.filters.slices()
        queryset = reports.failing_evaluations(self.object, evaluator or None, **slices)
        count = None if any(selected.values()) else summaries.failing_count(self.object)
        get = self.request.GET
        try:
            page = keyset_page(
                queryset,
                per_page=self.failing_per_page,
                after=get.get("after"),
                before=get.get("before"),
                last=get.get("last") == "1",
                count=count,
                constant=reports.failing_cursor_constant(evaluator),
            )
        except BadCursor:  # a link edited by hand: the first page
            page = keyset_page(queryset, per_page=self.failing_per_page, count=count)
        return {
            "run": self.object,
            "page": page,
            "filter_query": self.filter_query(),
            "selected": selected,
        }

    def get_context_data(self, **kwargs):
        if self.is_partial():  # the failing-cases table alone: no report
            return self.failing_context()
        report = summaries.run_report(self.object)
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
        # The failing cases, a live query over the run's verdicts, load into the page with
        # htmx (the fragment above): the page's own time is the summary's, whatever the size.
        return super().get_context_data(
            report=report,
            slice_charts=slice_charts,
            selection_label=reports.selection_label(report["run"]["selection"]),
            selected=self.selected(),
            failing_url=self.request.get_full_path(),
            **kwargs,
        )


class CompareView(
    PermissionRequiredMixin, PartialMixin, FilterQueryMixin, ReportExportMixin, TemplateView
):
    """/runs/compare/?a=&b=: two runs paired by case, with significance; a picker without."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/compare.html"
    partial_template_name = "evaluations/_compare_cases.html"
    htmx_target = "compare-cases"
    cases_per_page = 50
    paging_params = ("page", "after")

    def get(self, request, *args, **kwargs):
        self.errors: list[str] = []
        self.run_a, self.run_b = self._runs()
        self.case_filters = ComparisonCasesForm(request.GET)
        if not self.case_filters.is_valid():
            return _bad_request(error_text(self.case_filters))
        if self.export_format() and self.run_a is None:
            return _bad_request(" ".join(self.errors) or "Give two runs: ?a=&b=.")
        if self.errors:
            return self.render_to_response(self.get_context_data(), status=400)
        return super().get(request, *args, **kwargs)

    def _runs(self) -> tuple[ModelRun | None, ModelRun | None]:
        """The two runs of ?a=&b=, or none (the picker) when neither is given. One run alone
        (the report's "Compare with another run…") is the picker with that run chosen and
        the runs of its domain offered."""
        self.anchor: ModelRun | None = None
        given = {side: self.request.GET.get(side, "").strip() for side in ("a", "b")}
        if not any(given.values()):
            return None, None
        if not all(given.values()) and not self.export_format():
            side, value = next((side, value) for side, value in given.items() if value)
            form = RunPairForm({side: value})
            form.is_valid()
            self.anchor = form.cleaned_data.get(f"run_{side}")
            if self.anchor is None:
                self.errors.extend(
                    m for m in form.messages() if m.startswith(f"Run {side.upper()}")
                )
            return None, None
        form = RunPairForm(self.request.GET)
        if not form.is_valid():
            self.errors.extend(form.messages())
            return None, None
        return form.runs()

    def picker_runs(self):
        """The runs the picker offers: the newest 200, of the chosen run's domain if any."""
        chosen = self.anchor or self.run_a
        runs = ModelRun.objects.only(
            "id", "model_name", "model_version", "model_type", "created_at"
        ).order_by("-created_at", "-id")
        if chosen is not None:
            runs = runs.filter(model_type=chosen.model_type)
        return runs[:200]

    def is_partial(self) -> bool:
        return self.run_a is not None and super().is_partial()

    def get_export_filename(self, fmt: str) -> str:
        return f"compare-{self.run_a.pk}-{self.run_b.pk}.{fmt}"

    def export_data(self) -> dict:
        return summaries.comparison(self.run_a, self.run_b)

    def export_rows(self, data: dict):
        return exports.comparison_rows(data)

    def cases_context(self) -> dict:
        evaluator = self.case_filters.cleaned_data["evaluator"]
        change = self.case_filters.cleaned_data["change"]
        # Keyset pages in case order, one window of cases each (bounded at any run size);
        # a link this did not make (stale, edited) shows the first page.
        for after in dict.fromkeys((self.request.GET.get("after") or None, None)):
            try:
                page = reports.comparison_case_page(
                    self.run_a, self.run_b, change=change or None, evaluator=evaluator or None,
                    after=after, limit=self.cases_per_page,
                )  # fmt: skip
                break
            except BadCursor:
                continue
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "case_rows": reports.with_outputs(self.run_a, self.run_b, page.rows),
            "is_first": after is None,
            "next_cursor": page.next_cursor,
            "scanned_through": page.scanned_through,
            "scan_window": reports.comparison_pages.SCAN_WINDOW,
            "filter_query": self.filter_query(),
            "selected": {"evaluator": evaluator, "change": change},
            "change_kinds": reports.CHANGE_KINDS,
        }

    def get_context_data(self, **kwargs):
        if self.is_partial():  # the per-case table alone
            return self.cases_context()
        context = super().get_context_data(
            errors=self.errors,
            recent_runs=self.picker_runs(),
            selected_a=self.request.GET.get("a", ""),
            selected_b=self.request.GET.get("b", ""),
            **kwargs,
        )
        if self.run_a:
            comparison = summaries.comparison(self.run_a, self.run_b, case_limit=0)
            change = self.case_filters.cleaned_data["change"]
            cases_url = self.request.get_full_path()
            # The table opens on the regressions when there are any (its pages are one change
            # kind or all in case order, not regressions first); "any" is change= (empty).
            if "change" not in self.request.GET and any(
                figures["regressions"] for figures in comparison["evaluators"].values()
            ):
                change = "regression"
                cases_url += "&change=regression"
            context.update(
                comparison=comparison,
                selection_a=reports.selection_label(comparison["a"]["selection"]),
                selection_b=reports.selection_label(comparison["b"]["selection"]),
                slices=sorted(
                    comparison["slices"],
                    key=lambda r: (not r["significant_regression"], r["mcnemar_p_holm"]),
                )[:100],
                # The per-case table (a live query over both runs' verdicts) loads with htmx.
                selected={
                    "evaluator": self.case_filters.cleaned_data["evaluator"],
                    "change": change,
                },
                change_kinds=reports.CHANGE_KINDS,
                cases_url=cases_url,
            )
        return context


class LeaderboardView(PermissionRequiredMixin, ReportExportMixin, TemplateView):
    """/leaderboard/: runs grouped by model type and selection, ranked by an evaluator."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/leaderboard.html"
    export_header = exports.LEADERBOARD_COLUMNS
    export_name = "leaderboard"
    export_audit_action = "leaderboard.export"

    def get(self, request, *args, **kwargs):
        self.board = reports.build_leaderboard(
            model_type=request.GET.get("model_type", "").strip() or None,
            evaluator=request.GET.get("evaluator", "").strip() or None,
            figures=summaries.current_figures,
        )
        return super().get(request, *args, **kwargs)

    def export_data(self) -> dict:
        return self.board

    def export_rows(self, data: dict):
        return exports.leaderboard_rows(data)

    def get_context_data(self, **kwargs):
        return super().get_context_data(board=self.board, **kwargs)


class CaseHistoryView(PermissionRequiredMixin, TemplateView):
    """/reports/cases/<id>/history/: the fragment the case page loads with hx-get."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/_case_history.html"

    def get_context_data(self, **kwargs):
        case = get_object_or_404(TestCase.objects.only("id", "ground_truth"), pk=self.kwargs["pk"])
        return super().get_context_data(
            case_id=case.pk,
            expected=case.ground_truth,
            history=reports.case_history(case.pk),
            **kwargs,
        )
