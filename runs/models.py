from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from cases.models import TestCase


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ModelRun(models.Model):
    """One model version evaluated on one selection of test cases."""

    Status = RunStatus

    model_name = models.CharField(max_length=255)
    model_version = models.CharField(max_length=100)
    model_type = models.SlugField(max_length=50, db_index=False)
    model_endpoint = models.TextField(
        blank=True,
        default="",
        help_text="http(s)://... URL, or python:package.module:function for an in-process model",
    )
    config = models.JSONField(default=dict, blank=True, db_default={})
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    total_cases = models.IntegerField(default=0, db_default=0)
    completed_cases = models.IntegerField(default=0, db_default=0)
    failed_cases = models.IntegerField(default=0, db_default=0)
    # md5 over the selected cases' ids and updated_at when the run was registered (drift check).
    selection_fingerprint = models.CharField(max_length=32, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_runs",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "model_runs"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status"], name="runs_modelrun_status"),
            models.Index(fields=["model_type", "model_version"], name="runs_modelrun_type_version"),
            models.Index(fields=["model_name", "model_version"], name="runs_modelrun_name_version"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(total_cases__gte=0, completed_cases__gte=0, failed_cases__gte=0),
                name="%(app_label)s_%(class)s_counts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(completed_cases__lte=F("total_cases") - F("failed_cases")),
                name="%(app_label)s_%(class)s_counts_within_total",
            ),
            models.CheckConstraint(
                condition=Q(model_endpoint="")
                | Q(
                    model_endpoint__regex=r"^(https?://[^\s]+|python:[A-Za-z_][\w.]*:[A-Za-z_]\w*)$"
                ),
                name="%(app_label)s_%(class)s_endpoint_valid",
            ),
            models.CheckConstraint(
                condition=~Q(model_name="") & ~Q(model_version="") & ~Q(model_type=""),
                name="%(app_label)s_%(class)s_identity_required",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("runs:detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED, self.Status.CANCELLED}


class Response(models.Model):
    """What the model answered for one test case in one run."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="responses")
    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="responses")
    output_data = models.JSONField()
    latency_ms = models.IntegerField(null=True, blank=True)
    memory_mb = models.FloatField(null=True, blank=True)
    tokens_used = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "responses"
        ordering = ["id"]
        indexes = [GinIndex(fields=["output_data"], name="runs_response_output_gin")]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "test_case"], name="%(app_label)s_%(class)s_one_per_case"
            ),
            models.CheckConstraint(
                condition=Q(latency_ms__gte=0) | Q(latency_ms__isnull=True),
                name="%(app_label)s_%(class)s_latency_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(memory_mb__gte=0) | Q(memory_mb__isnull=True),
                name="%(app_label)s_%(class)s_memory_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(tokens_used__gte=0) | Q(tokens_used__isnull=True),
                name="%(app_label)s_%(class)s_tokens_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Response {self.pk} (run {self.run_id}, case {self.test_case_id})"

    @property
    def failed(self) -> bool:
        return bool(self.error_message)
