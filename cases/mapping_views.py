"""The import page's column mapping: a stored upload's columns and first rows, the mapping form,
its live preview (htmx: the first rows as they will be stored, or what is wrong), and the check
or import with the mapping. Thin views: reading is cases.tables, the rules cases.mapping."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.views import View

from accounts.audit import record
from cases import tables
from cases.mapping_forms import OUTPUT_TYPES, MappingForm, initial_for, remember
from cases.models import ImportMapping
from cases.tasks import import_mapped
from jobs.models import Job


class _MappedJobMixin(PermissionRequiredMixin):
    """A case import whose stored file can be (re)read with a mapping: one waiting for its
    mapping, or a finished check that kept its file."""

    permission_required = "cases.add_testcase"

    @cached_property
    def job(self) -> Job:
        mappable = Q(params__to_map=True) | Q(
            params__dry_run=True, state__in=(Job.State.SUCCEEDED, Job.State.FAILED)
        )
        queryset = Job.objects.filter(mappable, kind=Job.Kind.CASE_IMPORT).exclude(file="")
        return get_object_or_404(queryset, pk=self.kwargs["pk"])

    @cached_property
    def file_format(self) -> str:
        return self.job.params.get("file_format", "")

    @cached_property
    def sample(self) -> tuple[list, list, list]:
        try:
            with self.job.file.open("rb") as source:
                return tables.sample(source, self.file_format)
        except FileNotFoundError:
            raise Http404("The uploaded file is no longer stored") from None

    def form(self, data=None, initial=None) -> MappingForm:
        return MappingForm(data, columns=self.sample[0], initial=initial)


class ImportMapView(_MappedJobMixin, View):
    """GET: the form (from a saved mapping with ?saved=<id>, else the job's, else guessed from
    the column names); POST: check or import the file with the mapping."""

    template_name = "cases/import_map.html"

    def get(self, request, pk: int):
        mapping = self.job.params.get("mapping")
        saved = None
        if request.GET.get("saved", "").isdigit():
            saved = ImportMapping.objects.filter(pk=request.GET["saved"]).first()
            mapping = saved.mapping if saved else mapping
        initial = initial_for(self.sample[0], mapping)
        if saved is not None:
            initial["save_as"] = saved.name
        elif self.job.params.get("mapping_name"):
            initial["save_as"] = self.job.params["mapping_name"]
        return self.render(self.form(initial=initial))

    def post(self, request, pk: int):
        form = self.form(request.POST)
        mapping = form.mapping()
        if mapping is None:
            return self.render(form, status=400)
        name = form.cleaned_data.get("save_as", "").strip()
        if name:
            saved = remember(name, mapping, request.user)
            record(request.user, "cases.mapping.save", saved, mapping=saved.mapping)
            messages.success(request, f"Mapping {name!r} saved for the next file.")
        job = import_mapped(
            self.job,
            request.user,
            mapping=mapping.as_json(),
            mapping_name=name,
            dry_run="import" not in request.POST,
        )
        return redirect("cases:import_detail", job.pk)

    def render(self, form: MappingForm, status: int = 200) -> TemplateResponse:
        columns, rows, problems = self.sample
        context = {
            "job": self.job,
            "form": form,
            "samples": {c: [_shown(row.get(c)) for row in rows] for c in columns},
            "problems": problems,
            "saved_mappings": ImportMapping.objects.only("id", "name")[:200],
            "output_types": OUTPUT_TYPES,
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)


def _shown(value) -> str | None:
    """A sample cell as the form shows it: text as it is, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class ImportMapPreviewView(_MappedJobMixin, View):
    """htmx: the first rows through the form's mapping, as they will be stored, with the
    problems of those rows; or the mapping's own problems."""

    def post(self, request, pk: int):
        form = self.form(request.POST)
        mapping = form.mapping()
        report = None
        if mapping is not None:
            with self.job.file.open("rb") as source:
                report = tables.preview(
                    source, self.file_format, mapping, origin=self.job.params.get("origin", "")
                )
        context = {"form": form, "report": report, "job": self.job}
        return TemplateResponse(request, "cases/_mapping_preview.html", context)
