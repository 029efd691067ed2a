from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
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


class EvaluationJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class EvaluationJob(models.Model):
    """One request to score a run in the background, and its progress.

    The coordinator task splits the run's responses into id ranges (``chunks_total``); each
    chunk task scores one range and counts itself done here in the same transaction as its
    Evaluation rows, so the run page's progress never runs ahead of what is stored.
    """

    Status = EvaluationJobStatus

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="evaluation_jobs")
    # The resolved evaluators: [{"name", "params", "output_types": [...] | null}].
    evaluators = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10,
        choices=EvaluationJobStatus.choices,
        default=EvaluationJobStatus.QUEUED,
        db_default=EvaluationJobStatus.QUEUED,
    )
    chunk_size = models.IntegerField(default=5000)
    chunks_total = models.IntegerField(default=0)
    chunks_done = models.IntegerField(default=0)
    responses_total = models.BigIntegerField(default=0)
    responses_done = models.BigIntegerField(default=0)
    evaluations_written = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")  # the coordinator task
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluation_jobs",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "evaluation_jobs"
        ordering = ["-id"]
        indexes = [
            # The run page's panel: the latest job of a run.
            models.Index(fields=["run", "-id"], name="evals_job_run_latest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EvaluationJobStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(chunk_size__gt=0),
                name="%(app_label)s_%(class)s_chunk_size_positive",
            ),
            models.CheckConstraint(
                condition=Q(chunks_done__gte=0, chunks_done__lte=F("chunks_total")),
                name="%(app_label)s_%(class)s_chunks_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation job {self.pk} of run {self.run_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {EvaluationJobStatus.COMPLETED, EvaluationJobStatus.FAILED}

    @property
    def percent(self) -> int:
        if self.status == EvaluationJobStatus.COMPLETED:
            return 100
        if not self.responses_total:
            return 0
        return min(100, self.responses_done * 100 // self.responses_total)

    def as_status(self) -> dict:
        """The job as JSON, for the API's task status and the progress fragment."""
        return {
            "id": self.pk,
            "run": self.run_id,
            "status": self.status,
            "evaluators": self.evaluators,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "responses_total": self.responses_total,
            "responses_done": self.responses_done,
            "evaluations_written": self.evaluations_written,
            "percent": self.percent,
            "error": self.error,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
