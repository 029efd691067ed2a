"""Baselines: a lead marks one run the baseline of its model on a case set.

The case set is the run's golden-set version when it has one, else its fixed case set
(``cases_hash``): runs with equal keys were computed on the same cases. ``ModelRun.
baseline_since`` is set on the baseline; two partial unique constraints keep one per model and
key (``runs_modelrun_one_baseline_per_version`` / ``..._per_case_set``). The run page of every
newer run of the model on the same cases compares it with its baseline
(evaluations.model_pages), and the CI gate's ``baseline:<model>`` selector picks it
(evaluations.gate).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now

from accounts import audit
from runs.models import ModelRun, RunStatus

PERMISSION = "runs.mark_baseline"


def same_cases(run: ModelRun) -> Q:
    """Runs on the run's case set: the same golden-set version, else (neither on a version)
    the same fixed cases."""
    if run.version_id:
        return Q(version_id=run.version_id)
    return Q(version__isnull=True, cases_hash=run.cases_hash)


def can_be_baseline(run: ModelRun) -> str:
    """Why the run cannot be a baseline ("" when it can)."""
    if run.status != RunStatus.COMPLETED:
        status = run.get_status_display().lower()
        return f"Run #{run.pk} is {status}: only a completed run can be a baseline."
    if not run.version_id and not run.cases_hash:
        return f"Run #{run.pk} has no fixed case set to compare other runs on."
    return ""


def mark(run: ModelRun, user=None, **audit_detail) -> ModelRun | None:
    """Make the run its model's baseline on its case set; the baseline it replaces (None if
    none). ValidationError when it cannot be one. Audited as run.baseline."""
    if reason := can_be_baseline(run):
        raise ValidationError({"run": reason})
    for attempt in (1, 2):  # a concurrent mark on the same key: the constraint, then once more
        try:
            with transaction.atomic():
                others = ModelRun.objects.filter(
                    same_cases(run), model_name=run.model_name, baseline_since__isnull=False
                ).exclude(pk=run.pk)
                previous = others.select_for_update().first()
                others.update(baseline_since=None)
                ModelRun.objects.filter(pk=run.pk).update(baseline_since=Now())
                replaced = previous.pk if previous else None
                audit.record(user, "run.baseline", run, replaced=replaced, **audit_detail)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    run.refresh_from_db(fields=["baseline_since"])
    return previous


def unmark(run: ModelRun, user=None, **audit_detail) -> bool:
    """Stop the run being a baseline; whether it was one. Audited as run.unbaseline."""
    with transaction.atomic():
        done = ModelRun.objects.filter(pk=run.pk, baseline_since__isnull=False).update(
            baseline_since=None
        )
        if done:
            audit.record(user, "run.unbaseline", run, **audit_detail)
    run.refresh_from_db(fields=["baseline_since"])
    return bool(done)


def baseline_for(run: ModelRun, model_name: str | None = None) -> ModelRun | None:
    """The baseline of ``model_name`` (default: the run's model) on the run's case set, or
    None (also when it is the run itself). One query."""
    if not run.version_id and not run.cases_hash:
        return None
    return (
        ModelRun.objects.filter(
            same_cases(run),
            model_name=run.model_name if model_name is None else model_name,
            baseline_since__isnull=False,
        )
        .exclude(pk=run.pk)
        .select_related("version")
        .first()
    )


def compared_with_baseline(run: ModelRun) -> ModelRun | None:
    """The baseline this run's page compares it with: its model's on its cases, when the run
    is newer than it (an older run predates the baseline, it is not a candidate)."""
    baseline = baseline_for(run)
    if baseline is None or (baseline.created_at, baseline.pk) >= (run.created_at, run.pk):
        return None
    return baseline
