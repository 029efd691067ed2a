import re

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.functional import cached_property

from mleval_site import jsonsafe
from mleval_site.db import CascadingDeleteQuerySet, UpdateNeverInserts
from runs import reach
from runs.costs import PRICE_KEY, price_error
from runs.endpoint_config import CONNECTION_PREFIX, cases_per_call, endpoint_errors, endpoint_url
from runs.endpoint_grammar import ENDPOINT_PATTERN


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)
STALLED_AFTER_SECONDS = 60  # a running run with no executor write for this long is flagged
ENDPOINT_HELP = (
    "http(s)://... URL; python:package.module:function for an in-process model; "
    "openai:, mlflow:, kserve-v1: or kserve-v2: followed by the server's URL; "
    "connection:NAME for a saved connection (docs/connectors.md)"
)


class ModelRunQuerySet(CascadingDeleteQuerySet):
    """`delete()` takes the runs' responses, their evaluations, run cases and tasks, in SQL."""

    def recount(self) -> None:
        """Set completed_cases / failed_cases to what the runs' responses say, in SQL.

        The one recount (`runs_recount()` in PostgreSQL, see migration 0002): it locks the run
        rows first, so it sees every response committed before it and an executor's later
        increments land on top. Call it in the transaction that wrote the responses.
        """
        ids = list(self.values_list("pk", flat=True))
        if ids:
            with connections[self.db].cursor() as cursor:
                cursor.execute("SELECT runs_recount(%s::bigint[])", [ids])

    def with_headline(self) -> "ModelRunQuerySet":
        """Annotate each run's headline figures from its stored summary (the evaluations app's
        ``run_summaries``, reached by its relation names, not imported): ``pass_rate`` (of
        ``pass_rate_evaluator``, the evaluator with the most verdicts), ``latency_p95``, and
        ``headline_current``: false while the run's data changed since they were computed
        (the worker is recomputing them). Null for a run never summarized."""
        return self.annotate(
            pass_rate=F("summary__pass_rate"),
            pass_rate_evaluator=F("summary__pass_rate_evaluator"),
            latency_p95=F("summary__latency_p95"),
            headline_current=Q(summary__version=Coalesce(F("data_version__version"), Value(0))),
        )

    def cancel(self) -> int:
        """Stop the pending or running runs among these; executors notice within seconds."""
        return self.filter(status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, completed_at=Now()
        )


class ModelRun(UpdateNeverInserts, models.Model):
    """One model version evaluated on one selection of test cases."""

    Status = RunStatus

    model_name = models.CharField(max_length=255)
    model_version = models.CharField(max_length=100)
    model_type = models.SlugField(max_length=50, db_index=False)
    model_endpoint = models.TextField(
        blank=True,
        default="",
        help_text=ENDPOINT_HELP,
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
    # A run on a golden-set version: its cases AND their contents are the version's (inputs
    # called, ground truth scored against), whatever happens to the live cases since.
    version = models.ForeignKey(
        "versions.Version",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
    )
    # md5 of the sorted ids of the run's fixed cases (run_cases) at registration: the
    # comparison pairs and the leaderboard groups runs computed on the same cases by it.
    cases_hash = models.CharField(max_length=32, blank=True, default="", db_default="")
    # Set while the run is its model's baseline on its case set (runs.baselines): newer runs
    # of the model on the same cases are compared with it, and the gate's baseline: selector
    # picks it. One per model and golden-set version (or case set, off a version).
    baseline_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_runs",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    # Written by executors: the last time one stored progress (a stalled run shows it), and the
    # start of the current execution with the responses stored then (the page's rate and ETA).
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_since = models.DateTimeField(null=True, blank=True, editable=False)
    rate_base = models.IntegerField(default=0, db_default=0, editable=False)

    # Its background jobs (executions, response imports, scoring); deleted with the run.
    jobs = GenericRelation(
        "jobs.Job", content_type_field="target_type", object_id_field="target_id"
    )

    objects = ModelRunQuerySet.as_manager()

    class Meta:
        db_table = "model_runs"
        ordering = ["-id"]
        permissions = [("mark_baseline", "Can mark a run the baseline of its model")]
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
                condition=Q(model_endpoint="") | Q(model_endpoint__regex=ENDPOINT_PATTERN),
                name="%(app_label)s_%(class)s_endpoint_valid",
            ),
            models.CheckConstraint(
                condition=~Q(model_name="") & ~Q(model_version="") & ~Q(model_type=""),
                name="%(app_label)s_%(class)s_identity_required",
            ),
            models.UniqueConstraint(
                fields=["model_name", "version"],
                condition=Q(baseline_since__isnull=False, version__isnull=False),
                name="%(app_label)s_%(class)s_one_baseline_per_version",
            ),
            models.UniqueConstraint(
                fields=["model_name", "cases_hash"],
                condition=Q(baseline_since__isnull=False, version__isnull=True),
                name="%(app_label)s_%(class)s_one_baseline_per_case_set",
            ),
            models.CheckConstraint(
                condition=Q(baseline_since__isnull=True)
                | Q(version__isnull=False)
                | ~Q(cases_hash=""),
                name="%(app_label)s_%(class)s_baseline_has_cases",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("runs:detail", args=[self.pk])

    def clean(self) -> None:
        """The database constraints' rules, said per field for forms and commands."""
        errors = {}
        if self.model_endpoint and not re.fullmatch(ENDPOINT_PATTERN, self.model_endpoint):
            errors["model_endpoint"] = (
                "Write an http(s):// URL (a host name, IPv4 address or [IPv6] address, a port "
                "up to 65535, then printable ASCII), python:package.module:function, openai:, "
                "mlflow:, kserve-v1: or kserve-v2: followed by the server's URL, or "
                "connection:NAME (no spaces)."
            )
        elif self.model_endpoint.startswith(CONNECTION_PREFIX):
            errors["model_endpoint"] = (
                "A connection:NAME endpoint is replaced by the connection's own when a run is "
                "registered; register a new run from the connection."
            )
        elif self.model_endpoint:
            try:
                reach.check_endpoint_url(endpoint_url(self.model_endpoint))
            except reach.EndpointRefused as error:
                errors["model_endpoint"] = str(error)
        if not isinstance(self.config, dict):
            errors["config"] = "The config must be a JSON object."
        elif reason := jsonsafe.unstorable(self.config):
            errors["config"] = f"The config {reason}."
        elif self.model_endpoint and "model_endpoint" not in errors:
            errors.update(endpoint_errors(self.model_endpoint, self.config, self.model_name))
        if isinstance(self.config, dict) and (reason := price_error(self.config.get(PRICE_KEY))):
            errors.setdefault("config", [])
            if isinstance(errors["config"], list):
                errors["config"].append(reason)
        if errors:
            raise ValidationError(errors)

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def done_cases(self) -> int:
        return self.completed_cases + self.failed_cases

    @property
    def outcome(self) -> dict:
        """Answered vs succeeded vs failed, the one reading the run page, the run list and the
        dashboard show: a run whose every call failed answered all its cases and succeeded on
        none, which "40/40 answered" alone used to present as a success."""
        answered = self.completed_cases + self.failed_cases
        if answered == 0:
            verdict = "nothing answered yet"
        elif self.completed_cases == 0:
            verdict = "every call failed"
        elif self.failed_cases:
            verdict = "some calls failed"
        else:
            verdict = "every call succeeded"
        return {
            "total": self.total_cases,
            "answered": answered,
            "succeeded": self.completed_cases,
            "failed": self.failed_cases,
            "unanswered": max(self.total_cases - answered, 0),
            "verdict": verdict,
            "all_failed": answered > 0 and self.completed_cases == 0,
        }

    @property
    def remaining_cases(self) -> int:
        return max(self.total_cases - self.done_cases, 0)

    @cached_property
    def execution_queued(self) -> bool:
        """An execution job waits for a worker (the run page says "queued", not "not executed
        yet"). One query; only asked of a pending run."""
        return self.jobs.filter(kind="execution", state="queued").exists()

    @property
    def cases_per_call(self) -> int | None:
        """Cases per call when the endpoint kind batches (mlflow:, kserve-v1:, kserve-v2:)."""
        return cases_per_call(self.model_endpoint or "", self.config)

    @property
    def selection(self) -> dict:
        """The case selection (TestCaseFilterSet parameters) the run was registered with."""
        return (self.config or {}).get("selection") or {}

    def progress(self) -> dict:
        """The progress bar's figures: shares of total, rate and time left of this execution."""
        total = max(self.total_cases, 1)
        figures = {
            "done_percent": round(100 * self.completed_cases / total, 1),
            "failed_percent": round(100 * self.failed_cases / total, 1),
            "percent": round(100 * self.done_cases / total),
            "rate": None,
            "eta_seconds": None,
            "stalled_seconds": None,
        }
        if self.status == RunStatus.RUNNING and self.rate_since:
            now = timezone.now()
            elapsed = (now - self.rate_since).total_seconds()
            if elapsed > 0 and self.done_cases > self.rate_base:
                figures["rate"] = (self.done_cases - self.rate_base) / elapsed
                figures["eta_seconds"] = eta = round(self.remaining_cases / figures["rate"])
                figures["eta_text"] = (
                    f"{eta // 3600} h {eta % 3600 // 60} min"
                    if eta >= 3600
                    else f"{eta // 60} min {eta % 60} s"
                    if eta >= 60
                    else f"{eta} s"
                )
            quiet = (now - (self.heartbeat_at or self.rate_since)).total_seconds()
            if quiet > STALLED_AFTER_SECONDS:
                figures["stalled_seconds"] = round(quiet)
        return figures

    def recount(self) -> None:
        ModelRun.objects.filter(pk=self.pk).recount()
        self.refresh_from_db(fields=["completed_cases", "failed_cases"])

    def delete(self, using=None, keep_parents=False) -> tuple[int, dict[str, int]]:
        return ModelRun.objects.using(using or self._state.db).filter(pk=self.pk).delete()

    def cancel(self) -> bool:
        """Cancel if pending or running; responses stored so far are kept."""
        cancelled = ModelRun.objects.filter(pk=self.pk).cancel() > 0
        self.refresh_from_db(fields=["status", "completed_at"])
        return cancelled


# The app's other models: saved connections, lineage, and what a run holds (its responses,
# fixed cases, rate-limit slot).
from runs.connections import Connection  # noqa: E402, F401  (a model of this app)
from runs.lineage import ModelVersion  # noqa: E402, F401  (a model of this app)
from runs.responses import Response, RunCase, RunRateLimit  # noqa: E402, F401
