"""Human grading: a task samples a run's responses, assigns each to `overlap` graders, and keeps
every grader's grade. The graders' verdict on a response is also written as an ordinary
evaluation (`evaluator_type` "human", grading.verdicts), so reports read it like any other.
"""

from django.conf import settings
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Now

from runs.models import ModelRun, Response

HUMAN = "human"  # the evaluator_type of the graders' verdicts (INTERFACES.md "Grading")


class Scale(models.TextChoices):
    """The rubric's scale: a grader always says pass or fail, and may give a score on it."""

    PASS_FAIL = "pass_fail", "pass / fail only"
    ONE_TO_FIVE = "1-5", "1 to 5"
    ZERO_TO_TEN = "0-10", "0 to 10"


SCALE_RANGE = {Scale.PASS_FAIL: None, Scale.ONE_TO_FIVE: (1, 5), Scale.ZERO_TO_TEN: (0, 10)}


class GradingTaskQuerySet(models.QuerySet):
    def delete(self):
        """The tasks go with the human verdicts their grades made (a run's deletion takes
        those with its responses)."""
        from evaluations.models import Evaluation
        from evaluations.summary_store import verdicts_changed

        verdicts_changed(self.values_list("run_id", flat=True))
        Evaluation.objects.filter(
            evaluator_type=HUMAN, response__grading_item__task__in=self.values("pk")
        ).delete()
        return super().delete()

    def with_progress(self) -> "GradingTaskQuerySet":
        """Each task's items, assignments and grades so far: three correlated counts (index
        scans per task), not a join of every task's items with their assignments."""

        def count(model, group: str, **filters):
            rows = model.objects.filter(**{group: OuterRef("pk")}, **filters).order_by()
            return Coalesce(Subquery(rows.values(group).annotate(n=Count("id")).values("n")), 0)

        return self.annotate(
            item_count=count(GradingItem, "task"),
            assignment_count=count(Assignment, "item__task"),
            graded_count=count(Assignment, "item__task", graded_at__isnull=False),
        )


class GradingTask(models.Model):
    """A sample of one run's responses for people to grade, each by `overlap` graders."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="grading_tasks")
    name = models.CharField(max_length=200)
    instructions = models.TextField(
        blank=True, default="", help_text="The rubric the graders read above every answer."
    )
    scale = models.CharField(max_length=20, choices=Scale.choices, default=Scale.PASS_FAIL)
    overlap = models.PositiveSmallIntegerField(
        default=2, help_text="How many graders grade each response."
    )
    # How the items were chosen: {"requested", "evaluator", "slice", "seed", "strata": {...}}.
    sample = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    objects = GradingTaskQuerySet.as_manager()

    class Meta:
        db_table = "grading_tasks"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1), name="%(app_label)s_%(class)s_overlap_positive"
            ),
            models.CheckConstraint(
                condition=~Q(name=""), name="%(app_label)s_%(class)s_name_required"
            ),
            models.CheckConstraint(
                condition=Q(scale__in=Scale.values), name="%(app_label)s_%(class)s_scale_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (run {self.run_id})"

    def delete(self, *args, **kwargs):
        GradingTask.objects.filter(pk=self.pk).delete()
        return 1, {self._meta.label: 1}

    @property
    def score_range(self) -> tuple[int, int] | None:
        return SCALE_RANGE[Scale(self.scale)]


class GradingItem(models.Model):
    """One response of a task. A response is in at most one task, so no grader can meet it in
    two, and its human verdict comes from one set of graders (add graders to the task instead)."""

    task = models.ForeignKey(GradingTask, on_delete=models.CASCADE, related_name="items")
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="grading_item")
    position = models.PositiveIntegerField(help_text="1, 2, ...: the order graders meet items.")
    stratum = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "grading_items"
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "position"], name="%(app_label)s_%(class)s_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of task {self.task_id} (response {self.response_id})"


class AssignmentQuerySet(models.QuerySet):
    def graded(self) -> "AssignmentQuerySet":
        return self.filter(graded_at__isnull=False)

    def pending(self) -> "AssignmentQuerySet":
        return self.filter(graded_at__isnull=True)


class Assignment(models.Model):
    """One grader's turn on one item, and their grade once given (graded_at set)."""

    item = models.ForeignKey(GradingItem, on_delete=models.CASCADE, related_name="assignments")
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grading_assignments"
    )
    passed = models.BooleanField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="On the task's scale.")
    comment = models.TextField(blank=True, default="")
    graded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        db_table = "grading_assignments"
        ordering = ["item__position", "id"]
        permissions = [("grade", "Can grade model answers assigned to them")]
        indexes = [
            # A grader's queue: WHERE grader_id = %s AND graded_at IS NULL, by item.
            models.Index(fields=["grader", "graded_at", "item"], name="grading_assign_queue"),
        ]
        constraints = [
            # No grader meets a response twice (an item is one response, in one task).
            models.UniqueConstraint(
                fields=["item", "grader"], name="%(app_label)s_%(class)s_once_per_grader"
            ),
            # A grade is a pass/fail and a time, or neither.
            models.CheckConstraint(
                condition=Q(passed__isnull=True, graded_at__isnull=True, score__isnull=True)
                | Q(passed__isnull=False, graded_at__isnull=False),
                name="%(app_label)s_%(class)s_grade_complete",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=10),
                name="%(app_label)s_%(class)s_score_range",
            ),
        ]

    def __str__(self) -> str:
        state = "pending" if self.graded_at is None else ("pass" if self.passed else "fail")
        return f"{self.item} for grader {self.grader_id}: {state}"
