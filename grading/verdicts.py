"""A grade, and the human verdicts it feeds.

Every grade is kept on its assignment, and is also an ordinary evaluation with evaluator_type
"human" (INTERFACES.md "Grading"), so the report, comparison, case history, exports and API
show it like any other. A response graded by k people has k + 1 such rows:

- one per grader (``grader`` set): their pass/fail, their score on [0, 1], their comment as
  feedback, ``metrics.grader`` their username;
- the panel's (``grader`` NULL): the graders' majority (a tie is a fail, marked
  ``metrics.tie``), their mean score, ``metrics.grader`` the graders' usernames ("alice, bob")
  and ``metrics.graders`` each grade. It is the response's one ``human`` verdict that report
  figures and comparison pairs count (evaluations.models.ONE_PER_EVALUATOR).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from evaluations.models import Evaluation
from evaluations.summary_store import verdicts_changed
from grading.models import HUMAN, Assignment, GradingItem, GradingTask, Scale

COMMENT_LIMIT = 5000


class AlreadyGraded(Exception):
    """The grader has graded this item; the API refuses a second grade (409)."""


def clean_grade(task: GradingTask, passed: Any, score: Any, comment: Any) -> dict:
    """The grade's values, or a ValidationError naming every bad field at once."""
    errors: dict[str, str] = {}
    if not isinstance(passed, bool):
        errors["passed"] = "Say pass (true) or fail (false)."
    if score is not None and score != "":
        bounds = task.score_range
        try:
            score = float(score)
        except (TypeError, ValueError):
            errors["score"] = "A score is a number."
        else:
            if isinstance(score, bool) or bounds is None:
                errors["score"] = "This task's scale is pass / fail: give no score."
            elif not bounds[0] <= score <= bounds[1] or score != score:
                errors["score"] = f"A score on this task's scale is {bounds[0]} to {bounds[1]}."
    else:
        score = None
    if not isinstance(comment, str):
        errors["comment"] = "A comment is text."
    elif len(comment) > COMMENT_LIMIT:
        errors["comment"] = f"At most {COMMENT_LIMIT} characters."
    if errors:
        raise ValidationError(errors)
    return {"passed": passed, "score": score, "comment": comment.strip()}


def unit_score(task: GradingTask, passed: bool, score: float | None) -> float:
    """A grade on [0, 1]: its score mapped from the scale, else 1 for pass and 0 for fail."""
    bounds = task.score_range
    if score is None or bounds is None:
        return 1.0 if passed else 0.0
    low, high = bounds
    return (score - low) / (high - low)


@transaction.atomic
def record_grade(
    assignment: Assignment,
    *,
    passed: bool,
    score: float | None = None,
    comment: str = "",
    amend: bool = False,
) -> Evaluation:
    """Store the grader's grade and rewrite the response's human verdict.

    The item row is locked first, so two graders finishing the same response at once write
    its verdict one after the other, each from every grade. A second grade of the same
    assignment raises AlreadyGraded unless `amend` (the grading page's "back" corrects one).
    """
    item = GradingItem.objects.select_for_update().select_related("task").get(pk=assignment.item_id)
    values = clean_grade(item.task, passed, score, comment)
    rows = Assignment.objects.filter(pk=assignment.pk)
    if not amend:
        rows = rows.filter(graded_at__isnull=True)
    if not rows.update(**values, graded_at=timezone.now()):
        raise AlreadyGraded(f"{assignment.grader} has already graded item {item.position}.")
    evaluation = write_human_verdict(item)
    verdicts_changed([item.task.run_id])  # the run's summary refreshed after commit
    return evaluation


def write_human_verdict(item: GradingItem) -> Evaluation | None:
    """Upsert each grader's human evaluation of the item's response and the panel's (their
    majority, returned); with no grade left, delete them. Three statements whatever k."""
    grades = list(item.assignments.graded().select_related("grader").order_by("graded_at", "id"))
    human = Evaluation.objects.filter(response_id=item.response_id, evaluator_type=HUMAN)
    if not grades:
        human.delete()
        return None
    task = item.task
    names = [grade.grader.get_username() for grade in grades]
    own = [
        Evaluation(
            response_id=item.response_id,
            evaluator_type=HUMAN,
            grader_id=g.grader_id,
            score=_clamped(unit_score(task, g.passed, g.score)),
            passed=g.passed,
            metrics={"grader": name, "score": g.score, "scale": task.scale, "task": task.pk},
            feedback=g.comment[:COMMENT_LIMIT],
        )
        for name, g in zip(names, grades, strict=True)
    ]
    Evaluation.objects.bulk_create(
        own,
        update_conflicts=True,
        unique_fields=["response", "evaluator_type", "grader"],
        update_fields=["score", "passed", "metrics", "feedback"],
    )
    passes = sum(grade.passed for grade in grades)
    fails = len(grades) - passes
    score = sum(row.score for row in own) / len(own)
    metrics = {
        "grader": ", ".join(names),
        "graders": [
            {"grader": name, "passed": g.passed, "score": g.score, "comment": g.comment}
            for name, g in zip(names, grades, strict=True)
        ],
        "votes": {"pass": passes, "fail": fails},
        "tie": passes == fails,
        "scale": task.scale,
        "task": task.pk,
    }
    feedback = "; ".join(
        f"{name}: {'pass' if g.passed else 'fail'}"
        + (f" ({g.score:g} on {task.scale})" if g.score is not None else "")
        + (f" — {g.comment}" if g.comment else "")
        for name, g in zip(names, grades, strict=True)
    )
    evaluation, _ = Evaluation.objects.update_or_create(
        response_id=item.response_id,
        evaluator_type=HUMAN,
        grader=None,
        defaults={
            "score": _clamped(score),
            "passed": passes > fails,
            "metrics": metrics,
            "feedback": feedback[:COMMENT_LIMIT],
        },
    )
    return evaluation


def task_verdicts(task: GradingTask, *, after: int = 0, limit: int = 100) -> list[dict]:
    """The human verdicts of the task's items past position ``after`` (at most ``limit``
    items, in order): per item the panel's verdict and each grader's own. Two queries."""
    items = list(
        task.items.filter(position__gt=after)
        .order_by("position")
        .values_list("position", "response_id", "response__test_case_id")[:limit]
    )
    found: dict[int, list[Evaluation]] = {}
    rows = (
        Evaluation.objects.filter(response_id__in=[i[1] for i in items], evaluator_type=HUMAN)
        .select_related("grader")
        .order_by("response_id", "grader__username")
    )
    for row in rows:
        found.setdefault(row.response_id, []).append(row)

    def verdict(row: Evaluation) -> dict:
        body = {"passed": row.passed, "score": row.score, "feedback": row.feedback}
        return {"grader": row.grader.get_username(), **body} if row.grader else body

    return [
        {
            "position": position,
            "response": response_id,
            "test_case": case_id,
            "panel": next(
                (verdict(r) for r in found.get(response_id, ()) if r.grader is None), None
            ),
            "graders": [verdict(r) for r in found.get(response_id, ()) if r.grader is not None],
        }
        for position, response_id, case_id in items
    ]


def _clamped(score: float) -> float:
    return min(1.0, max(0.0, score))


__all__ = ["AlreadyGraded", "Scale", "clean_grade", "record_grade", "task_verdicts", "unit_score"]
