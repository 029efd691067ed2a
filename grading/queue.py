"""What the queue and grading pages read: a grader's tasks and items, a task's progress."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min, Q

from evaluations.models import Evaluation
from grading.models import HUMAN, Assignment, GradingTask


@dataclass
class Progress:
    graded: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.graded / self.total) if self.total else 0

    @property
    def done(self) -> bool:
        return self.graded >= self.total


def my_tasks(user) -> list[dict]:
    """The tasks with items assigned to `user`, newest first: progress and the next position
    to grade (None when all are graded). Two queries."""
    rows = (
        Assignment.objects.filter(grader=user)
        .values("item__task")
        .annotate(
            total=Count("id"),
            graded=Count("id", filter=Q(graded_at__isnull=False)),
            next_position=Min("item__position", filter=Q(graded_at__isnull=True)),
        )
    )
    by_task = {row["item__task"]: row for row in rows}
    tasks = GradingTask.objects.filter(pk__in=by_task).select_related("run")
    return [
        {
            "task": task,
            "progress": Progress(by_task[task.pk]["graded"], by_task[task.pk]["total"]),
            "next_position": by_task[task.pk]["next_position"],
        }
        for task in tasks
    ]


def grader_progress(task: GradingTask) -> list[dict]:
    """Per grader of the task: their progress (one query)."""
    rows = (
        Assignment.objects.filter(item__task=task)
        .values("grader__username")
        .annotate(total=Count("id"), graded=Count("id", filter=Q(graded_at__isnull=False)))
        .order_by("grader__username")
    )
    return [
        {"grader": row["grader__username"], "progress": Progress(row["graded"], row["total"])}
        for row in rows
    ]


def my_positions(task: GradingTask, user) -> list[tuple[int, bool]]:
    """(position, graded) of each item of `task` assigned to `user`, in order (one query)."""
    return [
        (position, graded_at is not None)
        for position, graded_at in Assignment.objects.filter(item__task=task, grader=user)
        .order_by("item__position")
        .values_list("item__position", "graded_at")
    ]


def neighbours(positions: list[tuple[int, bool]], current: int) -> dict:
    """Where back, next and "next to grade" lead from `current` among the grader's items."""
    order = [p for p, _ in positions]
    index = order.index(current)
    pending = [p for p, graded in positions if not graded and p != current]
    after = [p for p in pending if p > current]
    return {
        "back": order[index - 1] if index > 0 else None,
        "next": order[index + 1] if index + 1 < len(order) else None,
        "next_pending": after[0] if after else (pending[0] if pending else None),
        "index": index + 1,
        "count": len(order),
    }


def automatic_verdicts(response_id: int) -> list[Evaluation]:
    """The response's verdicts a grader sees once they have graded it (not the human one)."""
    return list(
        Evaluation.objects.filter(response_id=response_id)
        .exclude(evaluator_type=HUMAN)
        .order_by("evaluator_type")
    )


def verdicts_by_response(response_ids: list[int]) -> dict[int, list[Evaluation]]:
    """automatic_verdicts for many responses in one query."""
    found: dict[int, list[Evaluation]] = {}
    rows = (
        Evaluation.objects.filter(response_id__in=response_ids)
        .exclude(evaluator_type=HUMAN)
        .order_by("response_id", "evaluator_type")
    )
    for evaluation in rows:
        found.setdefault(evaluation.response_id, []).append(evaluation)
    return found
