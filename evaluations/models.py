from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from runs.models import ModelRun, Response


class EvaluationQuerySet(models.QuerySet):
    def for_run(self, run: ModelRun | int) -> "EvaluationQuerySet":
        return self.filter(response__run=run)

    def curation_errors(self) -> "EvaluationQuerySet":
        """Verdicts that blame the ground truth, not the model (a curator must fix the case).

        Written as jsonb containment so the GIN index on metrics can answer it.
        """
        return self.filter(metrics__contains={"ground_truth_error": True})


class Evaluation(models.Model):
    """One evaluator's verdict on one response; evaluating again replaces it (an upsert)."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="evaluations")
    evaluator_type = models.CharField(max_length=100)
    score = models.FloatField()
    passed = models.BooleanField()
    metrics = models.JSONField(default=dict, blank=True, db_default={})
    feedback = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        db_table = "evaluations"
        ordering = ["id"]
        indexes = [GinIndex(fields=["metrics"], name="evals_evaluation_metrics_gin")]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "evaluator_type"],
                name="%(app_label)s_%(class)s_one_per_evaluator",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=1),
                name="%(app_label)s_%(class)s_score_in_unit_range",
            ),
            models.CheckConstraint(
                condition=~Q(evaluator_type=""), name="%(app_label)s_%(class)s_evaluator_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.evaluator_type} on response {self.response_id}: {self.score:.3f}"
