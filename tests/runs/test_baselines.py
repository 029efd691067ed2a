"""Baselines: one per model and case set (a constraint), marked and replaced, audited."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from runs import baselines
from runs.models import ModelRun
from versions.models import Version


def make_run(name="bert", model_version="1", cases_hash="h1", **fields) -> ModelRun:
    fields.setdefault("status", ModelRun.Status.COMPLETED)
    return ModelRun.objects.create(
        model_name=name,
        model_version=model_version,
        model_type="nlp",
        cases_hash=cases_hash,
        **fields,
    )


@pytest.mark.django_db
def test_marking_replaces_the_models_baseline_on_the_same_cases_only(engineer):
    first, second = make_run(model_version="1"), make_run(model_version="2")
    elsewhere = make_run(model_version="2", cases_hash="h2")
    other_model = make_run(name="gpt")
    assert baselines.mark(first, engineer) is None
    baselines.mark(elsewhere)
    baselines.mark(other_model)
    assert baselines.mark(second, engineer) == first
    marked = set(ModelRun.objects.filter(baseline_since__isnull=False).values_list("pk", flat=True))
    assert marked == {second.pk, elsewhere.pk, other_model.pk}
    assert baselines.baseline_for(first) == second and baselines.baseline_for(second) is None
    events = AuditEvent.objects.filter(action="run.baseline", actor=engineer).order_by("id")
    assert [(e.target_id, e.detail["replaced"]) for e in events] == [
        (str(first.pk), None),
        (str(second.pk), first.pk),
    ]
    assert baselines.unmark(second, engineer) and not baselines.unmark(second, engineer)
    assert baselines.baseline_for(first) is None


@pytest.mark.django_db
def test_the_database_keeps_one_baseline_per_model_and_case_set():
    first, second = make_run(model_version="1"), make_run(model_version="2")
    ModelRun.objects.filter(pk=first.pk).update(baseline_since=timezone.now())
    with pytest.raises(IntegrityError, match="one_baseline_per_case_set"), transaction.atomic():
        ModelRun.objects.filter(pk=second.pk).update(baseline_since=timezone.now())
    # A run with no case set cannot be one at all.
    loose = make_run(model_version="3", cases_hash="")
    with pytest.raises(IntegrityError, match="baseline_has_cases"), transaction.atomic():
        ModelRun.objects.filter(pk=loose.pk).update(baseline_since=timezone.now())


@pytest.mark.django_db
def test_on_a_golden_set_version_the_key_is_the_version(curator):
    v1 = Version.objects.create(name="golden-1", created_by=curator)
    v2 = Version.objects.create(name="golden-2", created_by=curator)
    # Same case ids (cases_hash), different versions: two keys, two baselines.
    on_v1, on_v2, live = make_run(version=v1), make_run(version=v2), make_run()
    for run in (on_v1, on_v2, live):
        baselines.mark(run)
    assert ModelRun.objects.filter(baseline_since__isnull=False).count() == 3
    newer_on_v1 = make_run(version=v1)
    assert baselines.compared_with_baseline(newer_on_v1) == on_v1
    with pytest.raises(IntegrityError, match="one_baseline_per_version"), transaction.atomic():
        ModelRun.objects.filter(pk=newer_on_v1.pk).update(baseline_since=timezone.now())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": ModelRun.Status.RUNNING}, "only a completed run can be a baseline"),
        ({"cases_hash": ""}, "no fixed case set"),
    ],
)
def test_a_run_that_cannot_be_a_baseline_is_refused(fields, reason):
    run = make_run(**fields)
    with pytest.raises(ValidationError, match=reason):
        baselines.mark(run)
    assert not ModelRun.objects.filter(baseline_since__isnull=False).exists()


@pytest.mark.django_db
def test_only_newer_runs_are_compared_with_the_baseline():
    older, baseline, newer = (
        make_run(model_version="0"),
        make_run(model_version="1"),
        make_run(model_version="2"),
    )
    baselines.mark(baseline)
    assert baselines.compared_with_baseline(newer) == baseline
    assert baselines.compared_with_baseline(older) is None
    assert baselines.compared_with_baseline(baseline) is None


@pytest.mark.django_db
def test_mark_baseline_command():
    first, second = make_run(model_version="1"), make_run(model_version="2")
    out = io.StringIO()
    call_command("mark_baseline", str(first.pk), stdout=out)
    call_command("mark_baseline", str(second.pk), stdout=out)
    assert out.getvalue().splitlines()[-1] == (
        f"run #{second.pk} is the baseline of bert on its cases (replacing run #{first.pk})"
    )
    assert AuditEvent.objects.filter(action="run.baseline", detail__via="command").count() == 2
    call_command("mark_baseline", str(second.pk), "--unmark", stdout=out)
    assert baselines.baseline_for(first) is None
    running = make_run(model_version="3", status=ModelRun.Status.RUNNING)
    with pytest.raises(CommandError, match="only a completed run"):
        call_command("mark_baseline", str(running.pk))
    with pytest.raises(CommandError, match="There is no run #999999"):
        call_command("mark_baseline", "999999")
