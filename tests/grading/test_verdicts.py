"""A grade and the human verdict (an evaluation "human") it writes."""

import pytest
from django.core.exceptions import ValidationError

from evaluations.models import Evaluation
from grading.assigning import create_task
from grading.models import Assignment, Scale
from grading.verdicts import AlreadyGraded, record_grade


def assignments_of(item):
    return list(item.assignments.select_related("grader").order_by("grader__username"))


def test_majority_becomes_the_human_evaluation(graded_run, graders):
    task = create_task(
        graded_run.run, name="t", graders=graders, overlap=3, scale=Scale.ONE_TO_FIVE
    )
    item = task.items.first()
    a, b, c = assignments_of(item)
    record_grade(a, passed=True, score=5, comment="clear")
    record_grade(b, passed=False, score=2)
    human = record_grade(c, passed=True, score=4)
    stored = Evaluation.objects.get(response=item.response, evaluator_type="human", grader=None)
    assert stored.pk == human.pk and stored.passed is True
    assert stored.score == pytest.approx((1 + 0.25 + 0.75) / 3)
    assert stored.metrics["grader"] == "alice, bob, carol"
    assert stored.metrics["votes"] == {"pass": 2, "fail": 1}
    assert [g["grader"] for g in stored.metrics["graders"]] == ["alice", "bob", "carol"]
    assert "alice: pass (5 on 1-5) — clear" in stored.feedback
    # Each grader's own verdict, the grader recorded.
    own = Evaluation.objects.filter(response=item.response, evaluator_type="human").exclude(
        grader=None
    )
    assert {(v.grader.username, v.passed, v.score, v.feedback) for v in own} == {
        ("alice", True, 1.0, "clear"),
        ("bob", False, 0.25, ""),
        ("carol", True, 0.75, ""),
    }
    assert {v.metrics["grader"] for v in own} == {"alice", "bob", "carol"}


def test_amending_rewrites_the_graders_own_verdict_and_the_panels(task):
    assignment = Assignment.objects.filter(item__task=task).first()
    record_grade(assignment, passed=True, comment="ok")
    record_grade(assignment, passed=False, comment="no", amend=True)
    rows = Evaluation.objects.filter(response=assignment.item.response, evaluator_type="human")
    own = rows.get(grader=assignment.grader)
    assert (own.passed, own.feedback) == (False, "no")
    assert rows.count() == 2 and rows.get(grader=None).passed is False


def test_three_graders_count_once_in_the_pass_rate_and_the_comparison(graded_run, graders):
    """A response graded by three people is one human verdict in the report's figures and in
    the comparison's pairs (McNemar's discordant counts), not four."""
    from model_bakery import baker

    from evaluations.reports import build_run_report, compare_runs
    from runs.models import ModelRun, Response

    first = create_task(graded_run.run, name="a", graders=graders, overlap=3)
    second_run = baker.make(
        ModelRun, model_name="chat", model_version="2", model_type="llm", status="completed"
    )
    for response in graded_run.responses:
        baker.make(Response, run=second_run, test_case=response.test_case, output_data={})
    second = create_task(second_run, name="b", graders=graders, overlap=3)
    # Run A: every response passed by two of three (the majority passes); run B: failed by all.
    for item in first.items.all():
        a, b, c = assignments_of(item)
        record_grade(a, passed=True)
        record_grade(b, passed=True)
        record_grade(c, passed=False)
    for assignment in Assignment.objects.filter(item__task=second):
        record_grade(assignment, passed=False)
    assert Evaluation.objects.filter(evaluator_type="human").count() == 12 * 4 * 2

    report = build_run_report(graded_run.run)
    human = report["evaluators"]["human"]
    assert (human["count"], human["passed"], human["pass_rate"]) == (12, 12, 1.0)
    # Each grader's own verdicts, in the report's `graders` block (and so its downloads).
    assert {name: (g["count"], g["passed"]) for name, g in report["graders"].items()} == {
        "alice": (12, 12),
        "bob": (12, 12),
        "carol": (12, 0),
    }
    from evaluations.exports import report_rows

    rows = set(report_rows(report))
    assert ("graders", "carol", "", "", "pass_rate", 0.0) in rows
    assert ("graders", "alice", "", "", "count", 12) in rows
    compared = compare_runs(graded_run.run, second_run)["evaluators"]["human"]
    assert compared["paired"] == 12 and compared["regressions"] == 12
    assert compared["improvements"] == 0 and compared["pass_rate_a"] == 1.0
    assert compared["mcnemar_p"] == pytest.approx(2 * 0.5**12)


def test_a_tie_is_a_fail_marked_tie(task):
    item = task.items.first()
    first, second = item.assignments.all()
    record_grade(first, passed=True)
    human = record_grade(second, passed=False)
    assert human.passed is False and human.metrics["tie"] is True and human.score == 0.5


def test_a_second_grade_is_refused_unless_amending(task):
    assignment = Assignment.objects.filter(item__task=task).first()
    record_grade(assignment, passed=True)
    with pytest.raises(AlreadyGraded):
        record_grade(assignment, passed=False)
    human = record_grade(assignment, passed=False, amend=True)
    assert human.passed is False


def test_bad_grades_name_every_field(task):
    assignment = Assignment.objects.filter(item__task=task).first()
    with pytest.raises(ValidationError) as error:
        record_grade(assignment, passed="yes", score=3, comment=1)
    assert set(error.value.message_dict) == {"passed", "score", "comment"}
    assignment.refresh_from_db()
    assert assignment.graded_at is None


def test_scores_outside_the_scale_are_refused(graded_run, graders):
    task = create_task(
        graded_run.run, name="t", graders=graders, overlap=1, scale=Scale.ONE_TO_FIVE
    )
    assignment = Assignment.objects.filter(item__task=task).first()
    for bad in (0, 6, "x", float("nan")):
        with pytest.raises(ValidationError):
            record_grade(assignment, passed=True, score=bad)


def test_human_verdicts_compare_and_show_in_the_case_history(graded_run, graders, viewer, login):
    """A second run over the same cases, graded too: the comparison pairs 'human' verdicts."""
    from model_bakery import baker

    from evaluations.reports import case_history, compare_runs
    from runs.models import ModelRun, Response

    first = create_task(graded_run.run, name="a", graders=graders[:1], overlap=1)
    second_run = baker.make(
        ModelRun, model_name="chat", model_version="2", model_type="llm", status="completed"
    )
    for response in graded_run.responses:
        baker.make(Response, run=second_run, test_case=response.test_case, output_data={})
    second = create_task(second_run, name="b", graders=graders[:1], overlap=1)
    for assignment in Assignment.objects.filter(item__task=first):
        record_grade(assignment, passed=True)
    for assignment in Assignment.objects.filter(item__task=second):
        record_grade(assignment, passed=False)
    human = compare_runs(graded_run.run, second_run)["evaluators"]["human"]
    assert human["paired"] == 12 and human["regressions"] == 12
    case = graded_run.responses[0].test_case
    history = login(viewer).get(f"/reports/cases/{case.pk}/history/").content.decode()
    assert "human" in history and "alice: pass" in history
    assert "graded by alice" in history and "graders' majority</span>" in history
    rows = case_history(case.pk)
    human = [
        (row["run"]["id"], row["grader"], row["passed"])
        for row in rows
        if row["evaluator"] == "human"
    ]
    assert human == [
        (second_run.pk, None, False),
        (second_run.pk, "alice", False),
        (graded_run.run.pk, None, True),
        (graded_run.run.pk, "alice", True),
    ]


def test_a_reimported_answer_drops_the_grades_of_the_old_one(task, graded_run):
    """Re-importing a changed answer deletes what judged the old one: its verdicts, and its
    grading item with the grades (they graded another text); unchanged answers keep theirs."""
    from runs.ingestion import ingest_responses
    from runs.models import ModelRun
    from runs.responses import RunCase

    answered = [*graded_run.responses, graded_run.failed]
    RunCase.objects.bulk_create(  # the run's fixed selection (baker made it without one)
        RunCase(run=graded_run.run, test_case=r.test_case) for r in answered
    )
    ModelRun.objects.filter(pk=graded_run.run.pk).update(total_cases=len(answered))
    for assignment in Assignment.objects.filter(item__task=task):
        record_grade(assignment, passed=True)
    changed, same = graded_run.responses[0], graded_run.responses[1]
    ingest_responses(
        graded_run.run,
        [
            {"test_case_id": changed.test_case_id, "output_data": {"text": "a new reply"}},
            {"test_case_id": same.test_case_id, "output_data": same.output_data},
        ],
    )
    assert not task.items.filter(response=changed).exists()
    assert not Evaluation.objects.filter(response=changed).exists()
    assert Assignment.objects.filter(item__task=task).count() == 22
    assert Evaluation.objects.filter(response=same, evaluator_type="human").exists()


def test_a_grade_queues_the_runs_summary_refresh(
    task, graded_run, django_capture_on_commit_callbacks
):
    from evaluations.models import RunSummary
    from evaluations.summary_store import compute_summary

    compute_summary(graded_run.run)  # the summary exists, current
    assignment = Assignment.objects.filter(item__task=task).first()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record_grade(assignment, passed=True)
    assert callbacks  # queued after commit, not inside the grade's transaction
    assert RunSummary.objects.get(run=graded_run.run).requested_at is not None


def test_the_migration_backfills_each_graders_verdict_as_record_grade_writes_it(
    graded_run, graders
):
    """Grades given before per-grader verdicts existed get the same rows from the migration."""
    from importlib import import_module

    from django.db import connection

    backfill = import_module("grading.migrations.0002_per_grader_verdicts").BACKFILL
    task = create_task(
        graded_run.run, name="t", graders=graders, overlap=3, scale=Scale.ONE_TO_FIVE
    )
    for n, assignment in enumerate(Assignment.objects.filter(item__task=task)):
        record_grade(assignment, passed=n % 3 != 0, score=1 + n % 5, comment=f"c{n}")
    own = Evaluation.objects.filter(evaluator_type="human").exclude(grader=None)
    fields = ("response_id", "grader_id", "score", "passed", "metrics", "feedback")
    written = sorted(own.values_list(*fields))
    assert len(written) == 36
    own.delete()
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    assert sorted(own.values_list(*fields)) == written


def test_a_person_who_graded_is_deactivated_not_deleted(task):
    """PROTECT: the verdict records who gave it (SET_NULL would make it a second panel)."""
    from django.db.models import ProtectedError

    assignment = Assignment.objects.filter(item__task=task).select_related("grader").first()
    record_grade(assignment, passed=True)
    with pytest.raises(ProtectedError):
        assignment.grader.delete()
    assert Evaluation.objects.filter(grader=assignment.grader).count() == 1
