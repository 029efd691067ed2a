"""Grading tables: constraints PostgreSQL enforces, the grader role, the admin pages."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from grading.models import Assignment, GradingItem, GradingTask


def test_a_grader_meets_an_item_once(task, graders):
    item = task.items.first()
    taken = set(item.assignments.values_list("grader_id", flat=True))
    other = next(g for g in graders if g.pk in taken)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(item=item, grader=other)


def test_a_response_is_in_one_task(task, graded_run):
    response = graded_run.responses[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        GradingItem.objects.create(task=task, response=response, position=999)


@pytest.mark.parametrize(
    "fields",
    [
        {"passed": True},  # a pass/fail needs its time
        {"passed": None, "score": 3},  # a score without a grade
        {"passed": True, "score": 11},  # off every scale
    ],
)
def test_a_grade_is_whole(task, fields):
    assignment = Assignment.objects.filter(item__task=task).first()
    from django.utils import timezone

    if fields.get("passed") is not None and "score" in fields:
        fields["graded_at"] = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.filter(pk=assignment.pk).update(**fields)


@pytest.mark.parametrize("overlap", [0])
def test_overlap_is_positive(task, overlap):
    with pytest.raises(IntegrityError), transaction.atomic():
        GradingTask.objects.filter(pk=task.pk).update(overlap=overlap)


def test_grader_role_grades_and_reads_only(graders):
    alice = graders[0]
    assert alice.has_perm("grading.grade")
    assert alice.has_perm("runs.view_modelrun") and alice.has_perm("cases.view_testcase")
    assert alice.has_perm("grading.view_gradingtask")
    for denied in (
        "cases.change_testcase",
        "runs.change_modelrun",
        "evaluations.add_evaluation",
        "grading.add_gradingtask",
    ):
        assert not alice.has_perm(denied), denied


def test_engineers_manage_tasks_viewers_do_not_grade(engineer, viewer):
    assert engineer.has_perm("grading.add_gradingtask") and engineer.has_perm("grading.grade")
    assert not viewer.has_perm("grading.grade") and viewer.has_perm("grading.view_assignment")


@pytest.mark.parametrize("model", [GradingTask, GradingItem, Assignment], ids=lambda m: m.__name__)
def test_admin_pages(task, model, admin_user, login, django_assert_max_num_queries):
    client = login(admin_user)
    meta = model._meta
    with django_assert_max_num_queries(15):
        listing = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert listing.status_code == 200
    obj = model.objects.order_by("pk").first()
    with django_assert_max_num_queries(20):
        page = client.get(
            reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        )
    assert page.status_code == 200


def test_deleting_the_run_takes_the_grading_rows(task, graded_run):
    from runs.models import ModelRun

    ModelRun.objects.filter(pk=graded_run.run.pk).delete()
    assert not GradingTask.objects.exists() and not Assignment.objects.exists()


def test_deleting_a_task_takes_its_human_verdicts(task, graded_run):
    from evaluations.models import Evaluation
    from grading.verdicts import record_grade

    for assignment in Assignment.objects.filter(item__task=task):
        record_grade(assignment, passed=True)
    human = Evaluation.objects.filter(evaluator_type="human")
    # 12 responses, each graded by two: a verdict per grader and the panel's.
    assert human.one_per_evaluator().count() == 12
    assert human.filter(grader__isnull=False).count() == 24
    task.delete()
    assert not Evaluation.objects.filter(evaluator_type="human").exists()
    assert Evaluation.objects.filter(evaluator_type="llm_judge").count() == 12
    assert not Assignment.objects.exists()


def test_the_admin_deletes_a_task_with_its_verdicts(task, admin_user, login):
    from evaluations.models import Evaluation
    from grading.verdicts import record_grade

    record_grade(Assignment.objects.filter(item__task=task).first(), passed=True)
    client = login(admin_user)
    url = reverse("admin:grading_gradingtask_delete", args=[task.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not GradingTask.objects.exists()
    assert not Evaluation.objects.filter(evaluator_type="human").exists()
