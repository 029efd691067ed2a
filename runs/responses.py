"""What a run holds: its responses, its fixed case set and its rate-limit slot.

Models of the runs app (imported by runs.models, where the rest of the code finds them).
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from cases.models import TestCase
from mleval_site.db import CascadingDeleteQuerySet


class Response(models.Model):
    """What the model answered for one test case in one run."""

    run = models.ForeignKey("runs.ModelRun", on_delete=models.CASCADE, related_name="responses")
    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="responses")
    output_data = models.JSONField()
    latency_ms = models.FloatField(null=True, blank=True)  # decimals kept (sub-millisecond)
    memory_mb = models.FloatField(null=True, blank=True)
    tokens_used = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    # delete() takes the responses' evaluations in SQL too (forget_failures, the admin).
    objects = CascadingDeleteQuerySet.as_manager()

    class Meta:
        db_table = "responses"
        ordering = ["id"]
        indexes = [
            GinIndex(fields=["output_data"], name="runs_response_output_gin"),
            # The run page's latest failures: WHERE run_id = %s AND error_message <> ''
            # ORDER BY id DESC LIMIT 10, without walking the run's successful responses.
            models.Index(
                fields=["run", "-id"], condition=~Q(error_message=""), name="runs_response_failures"
            ),
        ]
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


class RunCase(models.Model):
    """One case of a run's selection, fixed when the run is registered.

    The run's case set: what execution calls, what ingestion accepts, and what the page compares
    with the selection's current cases to say how many were added, removed or edited since.
    `test_case` has no database constraint on purpose: a deleted case leaves its row, so the
    drift check can count it. `claimed_by` is the executor key that is calling the case now
    (see runs/execution.py); a claim whose executor is gone is free again.
    """

    pk = models.CompositePrimaryKey("run", "test_case")
    # The primary key (run, test_case) is the only index needed: every query starts from a run.
    run = models.ForeignKey(
        "runs.ModelRun", on_delete=models.CASCADE, related_name="run_cases", db_index=False
    )
    test_case = models.ForeignKey(
        TestCase, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    claimed_by = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "run_cases"

    def __str__(self) -> str:
        return f"run {self.run_id} case {self.test_case_id}"


class RunRateLimit(models.Model):
    """A rate-limited run's next free request slot, shared by every executor of the run.

    runs/ratelimit.py reserves slots with one atomic upsert per request, so the run's
    `rate_limit` holds across worker processes and machines. Deleted with the run.
    """

    run = models.OneToOneField(
        "runs.ModelRun", on_delete=models.CASCADE, primary_key=True, related_name="rate_limit_slot"
    )
    next_at = models.DateTimeField()

    class Meta:
        db_table = "run_rate_limits"

    def __str__(self) -> str:
        return f"run {self.run_id} next request at {self.next_at}"
