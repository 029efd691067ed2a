"""Pages: a case's revision history (shown on the case page) and restore; versions' list,
freeze form, detail with export, and the diff of two versions."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView

from cases.exporting import CONTENT_TYPES, export_lines
from cases.filters import TestCaseFilterSet
from cases.models import TestCase
from cases.selection import SelectionError
from mleval_site.generic import ExportMixin, FilterQueryMixin
from versions import freezing, revisions
from versions.models import CaseRevision, Version, VersionCaseContent

PAGE_SIZE = 50
DIFF_SHOWN = 200  # case ids listed per kind on the diff page (the JSON has them all)


class CaseRevisionsView(PermissionRequiredMixin, TemplateView):
    """The case page's "Revisions" card (loaded by htmx), newest first, field by field."""

    permission_required = "cases.view_testcase"
    template_name = "versions/_case_revisions.html"

    def get_context_data(self, **kwargs):
        live, entries = revisions.history(self.kwargs["pk"])
        return super().get_context_data(
            case_id=self.kwargs["pk"], live_revision=live, entries=entries, **kwargs
        )


class CaseRestoreView(PermissionRequiredMixin, View):
    """POST: put a kept revision's content back on the case (itself a new revision)."""

    permission_required = "cases.change_testcase"

    def post(self, request, pk: int, revision: int):
        case = get_object_or_404(TestCase, pk=pk)
        try:
            changed = revisions.restore(case, revision, request.user)
        except CaseRevision.DoesNotExist:
            raise Http404("No such revision") from None
        if changed:
            messages.success(request, f"Case {pk}: revision {revision} restored.")
        else:
            messages.info(request, f"Case {pk} already has revision {revision}'s content.")
        return redirect(case.get_absolute_url())


class VersionListView(PermissionRequiredMixin, ListView):
    permission_required = "versions.view_version"
    model = Version
    paginate_by = 50
    template_name = "versions/version_list.html"

    def get_queryset(self):
        return Version.objects.select_related("created_by")


class VersionCreateView(PermissionRequiredMixin, FilterQueryMixin, TemplateView):
    """Freeze the case list's current filters (the query string) as a named version."""

    permission_required = "versions.add_version"
    template_name = "versions/version_form.html"

    def selection(self) -> dict:
        query = self.request.GET.copy()
        for name in ("after", "before", "last", "format", "sort", "page"):
            query.pop(name, None)
        return {key: values if len(values) > 1 else values[0] for key, values in query.lists()}

    def get_context_data(self, **kwargs):
        filterset = TestCaseFilterSet(data=self.selection(), queryset=TestCase.objects.all())
        count = filterset.qs.count() if filterset.is_valid() else None
        return super().get_context_data(
            filterset=filterset, count=count, selection=self.selection(), **kwargs
        )

    def post(self, request, *args, **kwargs):
        try:
            version = freezing.freeze(
                request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                selection=self.selection(),
                created_by=request.user,
            )
        except (SelectionError, ValidationError) as error:
            detail = error.errors if isinstance(error, SelectionError) else error.message_dict
            for field, problems in detail.items():
                messages.error(request, f"{field}: {' '.join(problems)}")
            return self.get(request, *args, **kwargs)
        messages.success(request, f"Version {version.name} frozen: {version.case_count} cases.")
        return redirect(version)


class VersionDetailView(PermissionRequiredMixin, ExportMixin, DetailView):
    """A version's cases at their pinned revisions, by case id (`?after=<id>` pages on)."""

    permission_required = "versions.view_version"
    model = Version
    template_name = "versions/version_detail.html"
    context_object_name = "version"
    export_formats = CONTENT_TYPES
    export_stream = True
    export_audit_action = "version.export"

    def contents(self):
        return VersionCaseContent.objects.filter(version=self.object).annotate(id=F("case_id"))

    def get_export_filename(self, fmt: str) -> str:
        return f"mleval-version-{self.object.pk}.{fmt}"

    def export_content(self, fmt: str):
        return export_lines(self.contents(), fmt)

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if (fmt := self.export_format()) is not None:
            return self.export(fmt)
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs):
        try:
            after = int(self.request.GET.get("after") or 0)
        except ValueError:
            after = 0
        rows = list(self.contents().filter(case_id__gt=after).order_by("case_id")[: PAGE_SIZE + 1])
        return super().get_context_data(
            rows=rows[:PAGE_SIZE],
            next_after=rows[PAGE_SIZE - 1].case_id if len(rows) > PAGE_SIZE else None,
            formats=list(CONTENT_TYPES),
            others=Version.objects.exclude(pk=self.object.pk).only("id", "name")[:100],
            runs=self.object.runs.order_by("-id")[:20] if hasattr(self.object, "runs") else [],
            **kwargs,
        )


class VersionDiffView(PermissionRequiredMixin, TemplateView):
    """`?a=<id>&b=<id>`: what changed from a to b; `&format=json` the whole diff."""

    permission_required = "versions.view_version"
    template_name = "versions/version_diff.html"

    def get(self, request, *args, **kwargs):
        try:
            a = Version.objects.get(pk=int(request.GET.get("a", "")))
            b = Version.objects.get(pk=int(request.GET.get("b", "")))
        except (ValueError, Version.DoesNotExist):
            return HttpResponseBadRequest(
                "Name two versions: ?a=<id>&b=<id>.", content_type="text/plain; charset=utf-8"
            )
        result = freezing.diff(a, b)
        if request.GET.get("format") == "json":
            return JsonResponse(result.as_json())
        return self.render_to_response(
            self.get_context_data(
                diff=result,
                shown=DIFF_SHOWN,
                added=result.added[:DIFF_SHOWN],
                removed=result.removed[:DIFF_SHOWN],
                changed=result.changed[:DIFF_SHOWN],
                json_url=f"{reverse('versions:diff')}?a={a.pk}&b={b.pk}&format=json",
            )
        )
