"""Repeated trials: a run executed k times per case, as k sibling runs of one trial group.

The schema keeps one response per (run, case), so a run registered with ``"trials": k`` in its
config becomes k runs: the one registered (trial 1) and k − 1 siblings with the same model,
endpoint, config and cases, each marked ``"trial_group": <trial 1's id>, "trial": i`` in its
config. Executing or scoring any of them (page, API, ``enqueue_execution``) does the whole
group, so a noisy model (or judge) is sampled k times; the report's ``trials`` block
(evaluations.reports.trials) reads the group's verdicts: pass@k, pass^k, agreement and the
flaky cases.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection

from runs.models import ModelRun

MAX_TRIALS = 20


def trials_of(config: dict) -> int:
    """The config's ``trials`` (1 without one); ValidationError naming the key."""
    value = config.get("trials", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRIALS:
        raise ValidationError(
            {"config": f'"trials" must be a whole number from 1 to {MAX_TRIALS}, got {value!r}'}
        )
    return value


def add_trials(run: ModelRun, k: int) -> list[ModelRun]:
    """Make ``run`` (saved, its cases fixed) trial 1 of k and create its k − 1 siblings with
    the same cases. Call it in the registering transaction."""
    run.config = {**run.config, "trial_group": run.pk, "trial": 1}
    run.save(update_fields=["config"])
    siblings = []
    for trial in range(2, k + 1):
        sibling = ModelRun.objects.create(
            model_name=run.model_name,
            model_version=run.model_version,
            model_type=run.model_type,
            model_endpoint=run.model_endpoint,
            config={**run.config, "trial": trial},
            version=run.version,
            created_by=run.created_by,
            total_cases=run.total_cases,
            selection_fingerprint=run.selection_fingerprint,
            cases_hash=run.cases_hash,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO run_cases (run_id, test_case_id) "
                "SELECT %s, test_case_id FROM run_cases WHERE run_id = %s",
                [sibling.pk, run.pk],
            )
        siblings.append(sibling)
    return siblings


def trial_group_of(run: ModelRun) -> int | None:
    """The id of the run's trial group (its trial 1's id), None for a run without trials."""
    group = run.config.get("trial_group") if isinstance(run.config, dict) else None
    return group if isinstance(group, int) and not isinstance(group, bool) else None


def trial_runs(run: ModelRun) -> list[ModelRun]:
    """The run's trial group in trial order (just the run when it has no trials)."""
    group = trial_group_of(run)
    if group is None:
        return [run]
    return list(ModelRun.objects.filter(config__trial_group=group).order_by("pk")) or [run]
