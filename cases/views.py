"""Case pages. Thin views: filtering is TestCaseFilterSet, paging mleval_site.pagination, importing
and exporting cases.importing / cases.exporting; the bulk actions, review queue and delete page
(cases.curation's) are in cases.curation_views."""

from itertools import chain

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import transaction
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import CreateView, DetailView, FormView, TemplateView, UpdateView

from accounts.audit import record
from cases import curation
from cases.choices import tag_suggestions
from cases.exporting import CONTENT_TYPES, EXPORT_FORMATS, export_filename, export_lines
from cases.filters import SORT_CHOICES, TestCaseFilterSet
from cases.forms import (
    CaseForm,
    ImportForm,
    check_json,
    upload_too_large_message,
)
from cases.ground_truth import ground_truth_errors
from cases.models import Scope, TestCase
from cases.previews import input_preview
from cases.tasks import create_import_job, import_checked, import_is_clean
from jobs.models import Job
from mleval_site.generic import (
    ExportMixin,
    FilterQueryMixin,
    KeysetPageMixin,
    PartialMixin,
    safe_next,
)
from mleval_site.pagination import KEYSET_COUNT_LIMIT, count_rows

LIST_COLUMNS = [
    ("id", "#"),
    ("model_type", "Domain"),
    ("category", "Category"),
    (None, "Output"),
    (None, "Input"),
    (None, "Ground truth"),
    (None, "Tags"),
    (None, "Difficulty"),
    (None, "Origin"),
    ("updated_at", "Updated"),
]


SCOPE_NOTICES = {
    Scope.GOLDEN: "Showing the golden set: human-written, verified cases.",
    Scope.VERIFIED: "Widened: the golden set plus reviewed (verified) ai-generated cases.",
    Scope.ALL: "Widened to every case: ai-generated and unverified ones included.",
}


def scope_notice(filterset: TestCaseFilterSet) -> tuple[str, str]:
    """(scope shown, a sentence saying which cases the page shows): the FilterSet's scope."""
    scope, widened = filterset.effective_scope()
    if widened:
        return scope, "Widened beyond the golden set by the origin / verified filter."
    return scope, SCOPE_NOTICES[scope]


def _optional_url(name: str, *args) -> str | None:
    """The URL of a page another app may provide (by name only: cases imports no other app)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


class TagOptionsView(PermissionRequiredMixin, TemplateView):
    """htmx: the tag fields' suggestions (<option>s for their datalist) as the user types."""

    permission_required = "cases.view_testcase"
    template_name = "cases/_tag_options.html"

    def get_context_data(self, **kwargs):
        typed = self.request.GET.get("tags") or self.request.GET.get("tags_all") or ""
        return super().get_context_data(options=tag_suggestions(typed[:500]), **kwargs)


class CaseListView(PermissionRequiredMixin, PartialMixin, FilterQueryMixin, KeysetPageMixin,
                   TemplateView):  # fmt: skip
    permission_required = "cases.view_testcase"
    template_name = "cases/case_list.html"
    partial_template_name = "cases/_case_results.html"

    def get_context_data(self, **kwargs):
        filterset = TestCaseFilterSet(
            self.request.GET,
            queryset=TestCase.objects.select_related("created_by").defer("search_vector"),
        )
        queryset = filterset.qs if filterset.is_valid() else TestCase.objects.none()
        scope, notice = scope_notice(filterset)
        sort = self.request.GET.get("sort") or "-id"
        return super().get_context_data(
            filterset=filterset,
            page=self.page_of(queryset),
            scope=scope,
            scope_notice=notice,
            scopes=Scope.choices,
            columns=[
                (column, label, self._sort_toggle(column, sort)) for column, label in LIST_COLUMNS
            ],
            sort=sort,
            sort_choices=SORT_CHOICES,
            bulk_actions=curation.BulkAction.choices,
            can_change=self.request.user.has_perm("cases.change_testcase"),
            freeze_url=_optional_url("versions:create"),
            **kwargs,
        )

    @staticmethod
    def _sort_toggle(column: str | None, sort: str) -> str | None:
        if column is None:
            return None
        return f"-{column}" if sort == column or (column == "id" and sort != "id") else column


class CaseDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "cases.view_testcase"
    model = TestCase
    template_name = "cases/case_detail.html"
    context_object_name = "case"

    def get_queryset(self):
        return TestCase.objects.select_related("created_by").defer("search_vector")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        case = self.object
        context["preview"] = input_preview(case)
        context["shape_errors"] = ground_truth_errors(case.output_type, case.ground_truth)
        context["history_url"] = _optional_url("evaluations:case-history", case.pk)
        context["revisions_url"] = _optional_url("versions:case-revisions", case.pk)
        return context


class CaseCreateView(PermissionRequiredMixin, CreateView):
    permission_required = "cases.add_testcase"
    model = TestCase
    form_class = CaseForm
    template_name = "cases/case_form.html"

    def form_valid(self, form):
        form.instance.created_by = self.request.user
        with transaction.atomic():
            response = super().form_valid(form)
            record(self.request.user, "case.create", self.object)
        messages.success(self.request, f"Case {self.object.pk} created.")
        return response


class CaseUpdateView(PermissionRequiredMixin, UpdateView):
    permission_required = "cases.change_testcase"
    model = TestCase
    form_class = CaseForm
    template_name = "cases/case_form.html"
    context_object_name = "case"

    def form_valid(self, form):
        approving = "approve" in self.request.POST
        with transaction.atomic():
            response = super().form_valid(form)
            record(self.request.user, "case.update", self.object, fields=form.changed_data)
            if approving:  # what the review queue's Approve does, for this one case
                one = TestCase.objects.filter(pk=self.object.pk)
                curation.approve(one, actor=self.request.user, target_id=self.object.pk)
        messages.success(
            self.request, f"Case {self.object.pk} {'saved and approved' if approving else 'saved'}."
        )
        return response

    def get_success_url(self) -> str:
        return safe_next(self.request, self.object.get_absolute_url())


class CheckJsonView(PermissionRequiredMixin, View):
    """The JSON editors' live hint: valid or not (with the position), and the ground-truth shape."""

    permission_required = "cases.view_testcase"
    template_name = "cases/_json_hint.html"

    def post(self, request):
        field = request.POST.get("field", "")
        if field not in ("input_data", "ground_truth", "metadata"):
            field = ""
        text = request.POST.get(field, "") if field else ""
        value, error = check_json(text) if text.strip() else (None, None)
        problems = []
        if error is None and text.strip():
            if field in ("input_data", "metadata") and not isinstance(value, dict):
                problems.append(f"{field} must be a JSON object")
            output_type = request.POST.get("output_type", "").strip()
            if field == "ground_truth" and output_type:
                problems.extend(ground_truth_errors(output_type, value))
        context = {"empty": not text.strip(), "error": error, "problems": problems}
        return TemplateResponse(request, self.template_name, context)


class ImportView(PermissionRequiredMixin, FormView):
    """Upload a file; a background task checks (dry run) or imports it."""

    permission_required = "cases.add_testcase"
    form_class = ImportForm
    template_name = "cases/import.html"

    def post(self, request, *args, **kwargs):
        limit = settings.MLEVAL_MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + 64 * 1024:  # refused before the upload is read or stored
            context = self.get_context_data(upload_error=upload_too_large_message(length, limit))
            return self.render_to_response(context, status=413)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["jobs"] = Job.objects.filter(kind=Job.Kind.CASE_IMPORT).select_related(
            "created_by"
        )[:10]
        context["limit"] = settings.MLEVAL_MAX_UPLOAD_BYTES
        return context

    def form_valid(self, form):
        data = form.cleaned_data
        saved = data.get("saved_mapping")
        to_map = "map" in self.request.POST
        job = create_import_job(
            data["file"],
            file_format=data["file_format"],
            origin=data["origin"],
            on_conflict=data["on_conflict"],
            dry_run="import" not in self.request.POST,
            user=self.request.user,
            mapping=saved.mapping if saved else None,
            mapping_name=saved.name if saved else "",
            to_map=to_map,
        )
        return redirect("cases:import_map" if to_map else "cases:import_detail", job.pk)


class ImportJobView(PermissionRequiredMixin, DetailView):
    """An import's progress (the job partial, polled by htmx while it runs), then its preview,
    counts and errors."""

    permission_required = "cases.add_testcase"
    queryset = Job.objects.filter(kind=Job.Kind.CASE_IMPORT)
    context_object_name = "job"

    def get_context_data(self, **kwargs):
        return super().get_context_data(clean=import_is_clean(self.object), **kwargs)

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if self.object.params.get("to_map"):  # nothing runs before its columns are mapped
            return redirect("cases:import_map", self.object.pk)
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_template_names(self) -> list[str]:
        return ["cases/_import_status.html" if self.request.htmx else "cases/import_job.html"]


class ImportRunView(PermissionRequiredMixin, View):
    """After a clean dry run: import the same stored file for real."""

    permission_required = "cases.add_testcase"

    def post(self, request, pk: int):
        checked = get_object_or_404(Job, pk=pk, kind=Job.Kind.CASE_IMPORT, params__dry_run=True)
        if not import_is_clean(checked) or not checked.file:
            messages.error(request, "Only a file whose check found no errors can be imported.")
            return redirect("cases:import_detail", checked.pk)
        job = import_checked(checked, request.user)
        return redirect("cases:import_detail", job.pk)


class ExportView(PermissionRequiredMixin, ExportMixin, FilterQueryMixin, TemplateView):
    """The filtered selection as a JSONL, CSV or Parquet download, streamed; without a format,
    the page."""

    permission_required = "cases.view_testcase"
    template_name = "cases/export.html"
    export_formats = {name: CONTENT_TYPES[name] for name in EXPORT_FORMATS}
    export_stream = True
    paging_params = ("sort", *KeysetPageMixin.paging_params)

    @cached_property
    def filterset(self) -> TestCaseFilterSet:
        return TestCaseFilterSet(QueryDict(self.filter_query()))

    def can_export(self) -> bool:
        return self.filterset.is_valid()

    def get_export_filename(self, fmt: str) -> str:
        return export_filename(fmt, timezone.now().strftime("%Y%m%d-%H%M%S"))

    def export_content(self, fmt: str):
        """The lines, then the `cases.export` audit row, written only once the last line was:
        a failed export leaves none. The first line is read here, so that a query that fails
        at once fails the request itself (no download of an empty file)."""
        lines = export_lines(self.filterset.qs, fmt)
        first = next(lines, None)
        selection = QueryDict(self.filter_query()).dict()

        def audited():
            yield from () if first is None else chain([first], lines)
            record(
                self.request.user,
                "cases.export",
                "testcase",
                count=lines.cases,
                format=fmt,
                selection=selection,
            )

        return audited()

    def get_context_data(self, **kwargs):
        filterset = self.filterset
        queryset = filterset.qs if filterset.is_valid() else TestCase.objects.none()
        return super().get_context_data(
            filterset=filterset,
            scope_notice=scope_notice(filterset)[1],
            count=count_rows(queryset, limit=KEYSET_COUNT_LIMIT),  # the list's count
            formats=EXPORT_FORMATS,
            **kwargs,
        )
