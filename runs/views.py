"""Run pages. Thin views: registration is runs.selection, ingestion runs.ingestion, execution
runs.execution behind runs.tasks; the selection form is the case list's own FilterSet."""

import csv
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse_lazy
from django.utils.html import escape
from django.views import View
from django.views.generic import DeleteView, DetailView, FormView
from django_filters.views import FilterView

from accounts.audit import record
from cases.filters import TestCaseFilterSet
from cases.selection import SelectionError, select_cases
from jobs.models import Job, JobKind
from mleval_site.db import cascade_counts
from mleval_site.generic import FilterQueryMixin, PartialMixin
from mleval_site.pagination import EXACT_COUNT_LIMIT, EstimatedCountPaginator, capped_count
from runs.callers import ExecutionError
from runs.filters import ModelRunFilterSet
from runs.forms import ExecuteForm, RunForm, UploadForm
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response, RunCase, RunRateLimit
from runs.replies import error_for
from runs.response_lines import IngestError
from runs.run_locks import stop
from runs.selection import register_run, selection_drift
from runs.tasks import enqueue_execution, enqueue_import, record_refused_import

# The case list's filters that make a run's selection (model_type is the run's own field;
# sorting means nothing for a set).
SELECTION_FIELDS = [
    name for name in TestCaseFilterSet.base_filters if name not in ("model_type", "sort")
]
# The evaluations app adds its "Evaluate" form and scoring progress to the run page by
# providing this template (context: `run`); until then the placeholder shows.
EVALUATION_PANEL = ["evaluations/run_panel.html", "runs/_evaluation_placeholder.html"]
# The same for the trust mark beside a headline pass rate (context: `name`, the evaluator).
TRUST_MARK = ["evaluations/_trust_mark.html", "runs/_no_trust_mark.html"]
# What the delete page need not mention: the run's frozen selection and its background jobs.
RUN_BOOKKEEPING = (RunCase, RunRateLimit, Job)
LATEST_FAILURES = 10
LATEST_ANSWERS = 10
LATEST_TASKS = 3
SHOWN_IMPORT_ERRORS = 100  # on the page; the CSV has them all


def selection_from(data) -> dict:
    """The selection a submitted run form means (empty filters dropped)."""
    selection = {name: data.get(name) for name in SELECTION_FIELDS if data.get(name)}
    if data.get("model_type"):
        selection["model_type"] = data["model_type"]
    return selection


def selection_query(selection: dict) -> str:
    """The selection as the case list's query string (a link to its cases as they are now)."""
    query = QueryDict(mutable=True)
    for key, value in selection.items():
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        query[key] = value
    return query.urlencode()


class RunListView(PermissionRequiredMixin, PartialMixin, FilterQueryMixin, FilterView):
    permission_required = "runs.view_modelrun"
    model = ModelRun
    filterset_class = ModelRunFilterSet
    paginate_by = 50
    paginator_class = EstimatedCountPaginator
    template_name = "runs/run_list.html"
    partial_template_name = "runs/_run_table.html"
    queryset = ModelRun.objects.select_related("created_by").with_headline()

    def get_context_data(self, **kwargs):
        return super().get_context_data(trust_mark=TRUST_MARK, **kwargs)


class RunCreateView(PermissionRequiredMixin, FormView):
    """Register a run: its fields, and the case list's filters as its selection."""

    permission_required = "runs.add_modelrun"
    form_class = RunForm
    template_name = "runs/run_form.html"

    def get_initial(self) -> dict:  # prefilled from a link, e.g. the case list's selection
        return {
            name: self.request.GET[name]
            for name in RunForm._meta.fields
            if name in self.request.GET
        }

    def selection_form(self):
        data = self.request.POST if self.request.method == "POST" else self.request.GET
        return TestCaseFilterSet(data=data).form

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            selection_form=kwargs.pop("selection_form", None) or self.selection_form(),
            selection_fields=SELECTION_FIELDS,
            **kwargs,
        )

    def form_valid(self, form):
        data = form.cleaned_data
        selection_form = self.selection_form()
        try:
            run = register_run(
                **data,
                selection=selection_from({**self.request.POST.dict(), **data}),
                created_by=self.request.user,
            )
        except SelectionError as error:
            for field, problems in error.errors.items():
                target = field if field in selection_form.fields else None
                for problem in problems:
                    selection_form.add_error(target, problem)
            return self.render_to_response(
                self.get_context_data(form=form, selection_form=selection_form)
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Run #{run.pk} registered over {run.total_cases} cases.")
        return redirect(run)


class SelectionCountView(PermissionRequiredMixin, View):
    """htmx: how many cases the run form's selection picks, as the user edits it."""

    permission_required = "runs.add_modelrun"

    def get(self, request):
        model_type = request.GET.get("model_type", "").strip()
        if not model_type:
            return HttpResponse("Choose the run's domain to see its cases.")
        try:
            cases = select_cases(selection_from(request.GET))
        except SelectionError as error:  # it may echo the filter's value: escaped, never markup
            return HttpResponse(escape(str(error)))
        count = capped_count(cases)
        shown = f"{count:,}" if count is not None else f"more than {EXACT_COUNT_LIMIT:,}"
        return HttpResponse(f"{shown} cases selected.")


class RunDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "runs.view_modelrun"
    model = ModelRun
    queryset = ModelRun.objects.select_related("created_by").with_headline()
    template_name = "runs/run_detail.html"

    def get_context_data(self, **kwargs):
        run = self.object
        failures = list(
            Response.objects.filter(run=run)
            .exclude(error_message="")
            .select_related("test_case")
            .only("id", "test_case_id", "error_message", "latency_ms", "created_at")
            .order_by("-id")[:LATEST_FAILURES]
        )
        for failure in failures:  # the reply's excerpt only for engineers and admins
            failure.error_message = error_for(self.request.user, failure.error_message)
        answers = (
            Response.objects.filter(run=run, error_message="")
            .select_related("test_case")
            .only("id", "test_case_id", "output_data", "latency_ms", "test_case__ground_truth")
            .order_by("-id")[:LATEST_ANSWERS]
        )
        tasks = run.jobs.filter(kind__in=[JobKind.EXECUTION, JobKind.IMPORT]).select_related(
            "created_by"
        )[:LATEST_TASKS]
        last_import = run.jobs.filter(kind=JobKind.IMPORT).first()
        import_errors = (last_import.result or {}).get("errors") if last_import else None
        return super().get_context_data(
            run=run,
            failures=failures,
            answers=answers,
            tasks=tasks,
            last_import=last_import if import_errors else None,
            import_errors=(import_errors or [])[:SHOWN_IMPORT_ERRORS],
            import_error_count=len(import_errors or []),
            execute_form=ExecuteForm(),
            upload_form=UploadForm(),
            evaluation_panel=EVALUATION_PANEL,
            selection=sorted(run.selection.items()),
            selection_query=selection_query(run.selection),
            config_json=json.dumps(run.config, indent=2, ensure_ascii=False),
            **kwargs,
        )


class RunProgressView(PermissionRequiredMixin, DetailView):
    """htmx: the progress block, polled while the run is active."""

    permission_required = "runs.view_modelrun"
    model = ModelRun
    template_name = "runs/_progress.html"
    context_object_name = "run"

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self.request.GET.get("was") == "active" and self.object.is_finished:
            response["HX-Refresh"] = "true"  # it just ended: reload for failures and tasks
        return response


class RunDriftView(PermissionRequiredMixin, DetailView):
    """htmx: whether the run's selection changed since it was registered (loaded after the page)."""

    permission_required = "runs.view_modelrun"
    model = ModelRun
    template_name = "runs/_drift.html"
    context_object_name = "run"

    def get_context_data(self, **kwargs):
        return super().get_context_data(drift=selection_drift(self.object), **kwargs)


class RunActionView(PermissionRequiredMixin, View):
    """A POST button on the run page; answers with a redirect back to it."""

    permission_required = "runs.change_modelrun"

    def post(self, request, pk: int):
        run = get_object_or_404(ModelRun, pk=pk)
        self.act(run)
        return redirect(run)

    def act(self, run: ModelRun) -> None:
        raise NotImplementedError


class RunExecuteView(RunActionView):
    def act(self, run: ModelRun) -> None:
        form = ExecuteForm(self.request.POST)
        if not form.is_valid():
            for field, problems in form.errors.items():
                messages.error(self.request, f"{field}: {' '.join(problems)}")
            return
        try:
            result = enqueue_execution(
                run,
                form.options(),
                user=self.request.user,
                retry_failed=form.cleaned_data["retry_failed"],
            )
        except ExecutionError as error:
            messages.error(self.request, str(error))
            return
        messages.success(self.request, f"Execution queued (task {result.id}).")


class RunCancelView(RunActionView):
    def act(self, run: ModelRun) -> None:
        with transaction.atomic():
            cancelled = run.cancel()
            if cancelled:
                record(self.request.user, "run.cancel", run)
        if cancelled:
            messages.success(self.request, "Run cancelled; the responses stored so far are kept.")
        else:
            messages.warning(self.request, f"The run is {run.get_status_display().lower()}.")


class ResponseUploadView(PermissionRequiredMixin, View):
    """Responses from a JSONL upload: small files at once, big ones through the worker."""

    permission_required = "runs.add_response"

    def post(self, request, pk: int):
        run = get_object_or_404(ModelRun, pk=pk)
        form = UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            for problems in form.errors.values():
                messages.error(request, " ".join(problems))
            return redirect(run)
        upload = form.cleaned_data["file"]
        replace = not form.cleaned_data["keep_existing"]
        if upload.size > settings.MLEVAL_SYNC_IMPORT_BYTES:
            enqueue_import(run, upload, replace=replace, user=request.user)
            messages.success(request, "The file is being imported by the worker; see Tasks below.")
            return redirect(run)
        try:
            result = ingest_responses(run, upload, replace=replace, actor=request.user)
        except IngestError as error:
            job = record_refused_import(
                run, error, upload=upload, replace=replace, user=request.user
            )
            messages.error(
                request,
                f"{job.message.capitalize()} in the file; each is listed under Import errors.",
            )
            return redirect(f"{run.get_absolute_url()}#import-errors")
        messages.success(
            request,
            f"Imported {result.imported} responses ({result.created} new, "
            f"{result.replaced} replaced, {result.skipped} kept).",
        )
        return redirect(run)


class ImportErrorsView(PermissionRequiredMixin, View):
    """A refused response import's errors as CSV (line, field, message): all of them."""

    permission_required = "runs.view_modelrun"

    def get(self, request, pk: int, job_id: int):
        run = get_object_or_404(ModelRun, pk=pk)
        job = get_object_or_404(run.jobs.filter(kind=JobKind.IMPORT), pk=job_id)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="run-{run.pk}-import-{job.pk}-errors.csv"'
        )
        writer = csv.writer(response)
        writer.writerow(["line", "field", "message"])
        for error in (job.result or {}).get("errors", []):
            writer.writerow([error["line"], error["field"], error["message"]])
        return response


class RunDeleteView(PermissionRequiredMixin, DeleteView):
    permission_required = "runs.delete_modelrun"
    model = ModelRun
    template_name = "runs/run_confirm_delete.html"
    context_object_name = "run"
    success_url = reverse_lazy("runs:list")

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            counts=cascade_counts(ModelRun.objects.filter(pk=self.object.pk), skip=RUN_BOOKKEEPING),
            **kwargs,
        )

    def form_valid(self, form):
        run = self.object
        if not stop(run):
            messages.error(self.request, "The run is still stopping; delete it in a moment.")
            return redirect(run)
        with transaction.atomic():
            record(self.request.user, "run.delete", run, model=str(run))
            response = super().form_valid(form)
        messages.success(self.request, f"Run #{run.pk} deleted.")
        return response
