"""Scoring pages: the evaluators page, a run's "Evaluate" form and its progress panel.

Scoring itself happens in evaluations.pipeline (queued through evaluations.tasks); the reports
are evaluations.views.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.shortcuts import redirect, render
from django.views.generic import DetailView, FormView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from evaluations import summaries
from evaluations.evaluators.docs import evaluators_page
from evaluations.forms import EvaluateRunForm
from evaluations.models import Evaluation
from evaluations.reports.extensions import verdict_sources
from evaluations.tasks import enqueue_evaluation
from evaluations.views import REPORT_PERMISSIONS
from jobs.models import JobKind
from runs.models import ModelRun

CURATION_ERROR_CASES_SHOWN = 20


class EvaluatorsView(PermissionRequiredMixin, TemplateView):
    """/evaluators/: what each evaluator expects, its parameters, and an example verdict."""

    permission_required = "evaluations.view_evaluation"
    template_name = "evaluations/evaluators.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(page=evaluators_page(), sources=verdict_sources(), **kwargs)


def evaluation_panel_context(run: ModelRun, user, form: EvaluateRunForm | None = None) -> dict:
    """The run page's evaluation panel: the latest job's progress; once nothing is running,
    the verdicts per evaluator, the curation errors and (for engineers) the Evaluate form."""
    job = run.jobs.filter(kind=JobKind.EVALUATION).first()
    active = job is not None and not job.is_finished
    context = {"run": run, "job": job, "active": active}
    if active:
        return context
    evaluations = Evaluation.objects.for_run(run)
    errors = evaluations.curation_errors()
    can_evaluate = user.has_perm("evaluations.add_evaluation")
    context.update(
        verdicts=summaries.run_verdicts(run),
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
