"""The threshold explorer of a two-label run with probabilities: move the threshold, read the
confusion counts and rates there; keep one in the run config so verdicts and report follow.

The figures come from the report's stored threshold grid (``classification.scores.thresholds``,
:func:`evaluations.curves.threshold_grid`: true and false positives at t = 0, 0.01, ..., 1),
so moving the slider reads the run summary and never the responses. Keeping a threshold
writes ``decision_threshold`` and ``positive_label`` into the run config and queues a
re-scoring: ``label_match`` reads them (:func:`evaluations.pipeline.resolve_evaluators`), and
the report's confusion matrix and binary block follow once the job is done.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import transaction
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.views.generic import DetailView, View
from django.views.generic.detail import SingleObjectMixin

from accounts.audit import record
from evaluations import summaries
from evaluations.curves import threshold_figures
from evaluations.tasks import enqueue_evaluation
from evaluations.views import REPORT_PERMISSIONS
from runs.models import ModelRun

__all__ = ["ThresholdSaveView", "ThresholdView", "parse_threshold"]


def parse_threshold(value: str | None, default: float = 0.5) -> float | None:
    """A threshold from a form field: a number in [0, 1] (None when it is not one)."""
    if value in (None, ""):
        return default
    try:
        threshold = float(value)
    except ValueError:
        return None
    return threshold if 0.0 <= threshold <= 1.0 else None


def binary_scores(run: ModelRun) -> dict | None:
    """The run's stored binary scores block, or None."""
    classification = summaries.run_report(run).get("classification") or {}
    scores = classification.get("scores")
    return scores if scores and scores.get("thresholds") else None


class ThresholdView(PermissionRequiredMixin, DetailView):
    """/runs/<id>/threshold/?t=0.42: the explorer's figures at t (the fragment for htmx, a
    page with the explorer otherwise)."""

    model = ModelRun
    permission_required = REPORT_PERMISSIONS
    template_name = "evaluations/threshold.html"
    context_object_name = "run"

    def get_template_names(self) -> list[str]:
        if getattr(self.request, "htmx", None):
            return ["evaluations/_threshold.html"]
        return [self.template_name]

    def get(self, request, *args, **kwargs):
        self.threshold = parse_threshold(request.GET.get("t"))
        if self.threshold is None:
            return HttpResponseBadRequest("t must be a number between 0 and 1.")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        scores = binary_scores(self.object)
        return super().get_context_data(
            scores=scores,
            at=threshold_figures(scores["thresholds"], self.threshold) if scores else None,
            can_keep=self.request.user.has_perm("evaluations.add_evaluation"),
            **kwargs,
        )


class ThresholdSaveView(PermissionRequiredMixin, SingleObjectMixin, View):
    """POST /runs/<id>/threshold/keep/ t=0.42: keep the threshold in the run config and queue
    the re-scoring (engineers)."""

    model = ModelRun
    permission_required = "evaluations.add_evaluation"

    def post(self, request, *args, **kwargs):
        run = self.get_object()
        threshold = parse_threshold(request.POST.get("t"), default=None)
        scores = binary_scores(run)
        if threshold is None or scores is None:
            return HttpResponseBadRequest(
                "t must be a number between 0 and 1, for a two-label run with probabilities."
            )
        with transaction.atomic():
            run = ModelRun.objects.select_for_update().get(pk=run.pk)
            run.config = {
                **run.config,
                "decision_threshold": threshold,
                "positive_label": scores["positive_label"],
            }
            run.save(update_fields=["config"])
            record(
                request.user,
                "run.threshold",
                run,
                threshold=threshold,
                positive_label=scores["positive_label"],
            )
            job = enqueue_evaluation(run, user=request.user)
        messages.success(
            request,
            f"Threshold {threshold:g} for {scores['positive_label']!r} kept; evaluation job "
            f"{job.pk} re-scores the run.",
        )
        return redirect("evaluations:run-evaluate", pk=run.pk)
