"""/models/ and /models/<name>/ (figures: evaluations.model_figures), the lineage form, and a
run's baseline: marking it (a lead: ``runs.mark_baseline``) and the comparison a newer run's
page shows (the gate's verdict on the run against its baseline, from the cached comparison).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from evaluations.gate import GateError, gate
from evaluations.model_figures import model_list, model_trend
from runs import baselines
from runs.lineage import LineageKind, ModelVersion
from runs.models import ModelRun

REPORT_PERMISSIONS = ("runs.view_modelrun", "evaluations.view_evaluation")
LINEAGE_PERMISSION = "runs.change_modelversion"


class LineageForm(forms.Form):
    """Name the version a model version came from (empty parent: forget it)."""

    model_name = forms.CharField(max_length=255, widget=forms.HiddenInput)
    model_version = forms.CharField(
        max_length=100, label="Version", widget=forms.TextInput(attrs={"list": "model-versions"})
    )
    parent_name = forms.CharField(max_length=255, required=False, label="Parent model")
    parent_version = forms.CharField(max_length=100, required=False, label="Parent version")
    kind = forms.ChoiceField(choices=[("", "---"), *LineageKind.choices], required=False)
    note = forms.CharField(max_length=500, required=False)

    def clean(self) -> dict:
        data = super().clean()
        name, version = data.get("parent_name", ""), data.get("parent_version", "")
        if bool(name) != bool(version):
            self.add_error(
                "parent_version" if name else "parent_name",
                "Give the parent's model and version both (or neither, to forget the parent).",
            )
        return data

    def save(self, user) -> ModelVersion | None:
        """Record the lineage (ModelVersion.record: a cycle becomes the parent's error)."""
        data = self.cleaned_data
        parent = (data["parent_name"], data["parent_version"]) if data["parent_name"] else None
        try:
            return ModelVersion.record(
                data["model_name"], data["model_version"], parent, data["kind"],
                note=data["note"], user=user,
            )  # fmt: skip
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                target = {"parent": "parent_version", "parent_kind": "kind"}.get(field)
                self.add_error(target if target in self.fields else None, problems)
            return None


class ModelListView(PermissionRequiredMixin, TemplateView):
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/models.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(models=model_list(), **kwargs)


class ModelDetailView(PermissionRequiredMixin, TemplateView):
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/model_detail.html"

    def get_context_data(self, **kwargs):
        name = self.kwargs["name"]
        user = self.request.user
        initial = {"model_name": name, "kind": LineageKind.FINE_TUNED}
        kwargs.setdefault("lineage_form", LineageForm(initial=initial))
        return super().get_context_data(
            model=model_trend(name),
            can_mark_baseline=user.has_perm(baselines.PERMISSION),
            can_edit_lineage=user.has_perm(LINEAGE_PERMISSION),
            **kwargs,
        )

    def post(self, request, name: str):
        """The lineage form: back to the page, or the page with the form's errors (400)."""
        if not request.user.has_perm(LINEAGE_PERMISSION):
            raise PermissionDenied
        form = LineageForm(request.POST)
        if form.is_valid() and form.cleaned_data["model_name"] != name:
            form.add_error(None, f"This page records the lineage of {name}'s versions.")
        if form.is_valid() and (row := form.save(request.user)) is not None:
            messages.success(request, f"Lineage of {row} saved.")
            return redirect(reverse("evaluations:model", args=[name]) + "#lineage")
        response = self.render_to_response(self.get_context_data(lineage_form=form))
        response.status_code = 400
        return response


class MarkBaselineView(PermissionRequiredMixin, View):
    """POST: make the run its model's baseline on its cases (``unmark``: stop it); back to
    the model page."""

    permission_required = baselines.PERMISSION

    def post(self, request, pk: int):
        run = get_object_or_404(ModelRun, pk=pk)
        if request.POST.get("unmark"):
            baselines.unmark(run, request.user)
            messages.success(request, f"Run #{run.pk} is no longer a baseline.")
        else:
            try:
                previous = baselines.mark(run, request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                replaced = f", replacing run #{previous.pk}" if previous else ""
                messages.success(request, f"Run #{run.pk} is the baseline on its cases{replaced}.")
        return redirect(reverse("evaluations:model", args=[run.model_name]) + "#runs")


class RunBaselineView(PermissionRequiredMixin, TemplateView):
    """htmx, on the run page and its report: how the run compares with its model's baseline
    on its cases, when it is newer than the baseline (nothing otherwise)."""

    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/_run_baseline.html"

    def get_context_data(self, **kwargs):
        run = get_object_or_404(ModelRun, pk=self.kwargs["pk"])
        baseline = baselines.compared_with_baseline(run)
        verdict, problem = None, ""
        if baseline is not None:
            try:
                verdict = gate(baseline, run)
            except GateError as error:
                problem = str(error)
        shown = [c for c in verdict.checks if c.dimension is None or c.regressed] if verdict else []
        return super().get_context_data(
            run=run,
            baseline=baseline,
            verdict=verdict,
            checks=[
                (c, None if c.pass_rate_delta is None else c.pass_rate_delta * 100) for c in shown
            ],
            problem=problem,
            is_baseline=bool(run.baseline_since),
            **kwargs,
        )
