"""A grade, and the human verdict it feeds.

Every grade is kept on its assignment. The graders' verdict on a response is also an ordinary
evaluation with evaluator_type "human" (INTERFACES.md "Grading"), so the report, comparison,
case history, exports and API show it like any other; one row per response, since evaluations
are unique per (response, evaluator_type): its `passed` is the graders' majority (a tie is a
fail, marked `metrics.tie`), its `score` their mean score on [0, 1], `metrics.grader` the
graders' usernames ("alice" or "alice, bob") and `metrics.graders` each grade.
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
    """Upsert (or, with no grade left, delete) the human evaluation of the item's response."""
    grades = list(item.assignments.graded().select_related("grader").order_by("graded_at", "id"))
    if not grades:
        Evaluation.objects.filter(response_id=item.response_id, evaluator_type=HUMAN).delete()
        return None
    task = item.task
    passes = sum(grade.passed for grade in grades)
    fails = len(grades) - passes
    score = sum(unit_score(task, g.passed, g.score) for g in grades) / len(grades)
    names = [grade.grader.get_username() for grade in grades]
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
        defaults={
            "score": min(1.0, max(0.0, score)),
            "passed": passes > fails,
            "metrics": metrics,
            "feedback": feedback[:COMMENT_LIMIT],
        },
    )
    return evaluation


__all__ = ["AlreadyGraded", "Scale", "clean_grade", "record_grade", "unit_score"]
