"""One model for every background action: case imports, response imports, executions, scoring.

A Job is what a page, the API or a command records when it queues work for `db_worker`; the
task then writes the job's state and progress, and every reader (the progress partial, the
API's `tasks/<id>/`, the run page) reads the job instead of the task table. The job points at
what it works on through a generic reference (`target_type` + `target_id`): this app may not
import the apps that use it, and a run's jobs still go with the run (`ModelRun.jobs`, a
GenericRelation, cascades in Django's collector).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Now

# The longest error text kept on a job (a traceback's last line is what a user needs).
ERROR_LIMIT = 2000


class JobKind(models.TextChoices):
    CASE_IMPORT = "case_import", "Case import"
    IMPORT = "import", "Response import"  # "import": the API's name for it since v1
    EXECUTION = "execution", "Execution"
    EVALUATION = "evaluation", "Evaluation"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobQuerySet(models.QuerySet):
    def for_target(self, target: models.Model) -> JobQuerySet:
        return self.filter(
            target_type=ContentType.objects.get_for_model(target), target_id=target.pk
        )

    def unfinished(self) -> JobQuerySet:
        return self.exclude(state__in=FINISHED_STATES)

    def fail(self, error: BaseException | str) -> int:
        """Mark these jobs failed with the error's text (a job already finished keeps its
        outcome)."""
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        return self.unfinished().update(
            state=JobState.FAILED, error=str(error)[:ERROR_LIMIT], finished_at=Now()
        )

    def start_parts(self, parts: int, total: int) -> int:
        """A job split into `parts` tasks (each scores one chunk): running until the last part
        counts itself done; with no part at all it has nothing to do and succeeded."""
        return self.update(
            state=JobState.RUNNING if parts else JobState.SUCCEEDED,
            parts_total=parts,
            total=total,
            started_at=Now(),
            finished_at=None if parts else Now(),
        )

    def record_part(self, done: int, **counters: int) -> int:
        """Count one part done, its `done` units and kind-specific counters (added to
        `counters`); the last part completes the job. One UPDATE, so two parts finishing
        together cannot both miss being last; call it in the transaction that wrote the part's
        work, so the progress never runs ahead of what is stored."""
        last = Q(parts_done__gte=F("parts_total") - 1) & Q(state=JobState.RUNNING)
        sums = F("counters")
        for name, amount in counters.items():
            sums = JsonbAdd(sums, Value(name), Value(amount))
        return self.update(
            parts_done=F("parts_done") + 1,
            done=F("done") + done,
            counters=sums,
            state=Case(When(last, then=Value(JobState.SUCCEEDED)), default=F("state")),
            finished_at=Case(When(last, then=Now()), default=F("finished_at")),
        )


class JsonbAdd(models.Func):
    """counters || {key: counters->key + amount}: a counter kept in a jsonb object."""

    output_field = models.JSONField()

    def as_sql(self, compiler, connection, **extra_context):
        (obj, obj_params), (key, key_params), (amount, amount_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = (
            f"({obj} || jsonb_build_object({key}::text, "
            f"coalesce(({obj} ->> {key}::text)::bigint, 0) + {amount}::bigint))"
        )
        return sql, (*obj_params, *key_params, *obj_params, *key_params, *amount_params)


class Job(models.Model):
    """One background action, its state and progress, and its outcome.

    `done` / `total` are the progress in the kind's own unit (bytes of an uploaded file,
    answered cases, scored responses); `counters` holds kind-specific running counts (rows
    read, verdicts written); `params` what the job was asked to do; `result` its outcome
    (an import's counts, errors with line and field, and preview rows).
    """

    Kind = JobKind
    State = JobState

    kind = models.CharField(max_length=20, choices=JobKind.choices)
    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target_id = models.BigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    state = models.CharField(
        max_length=10, choices=JobState.choices, default=JobState.QUEUED, db_default="queued"
    )
    done = models.BigIntegerField(default=0, db_default=0)
    total = models.BigIntegerField(default=0, db_default=0)
    # A job split into several tasks (scoring's chunks): how many, and how many are done.
    parts_total = models.IntegerField(default=0, db_default=0)
    parts_done = models.IntegerField(default=0, db_default=0)
    counters = models.JSONField(default=dict, blank=True, db_default={})
    params = models.JSONField(default=dict, blank=True, db_default={})
    result = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True, default="", db_default="")
    error = models.TextField(blank=True, default="", db_default="")
    # An uploaded file the task reads (case and response imports), stored by store_upload().
    file = models.FileField(upload_to="uploads/", max_length=300, blank=True)
    file_name = models.CharField(max_length=255, blank=True, default="", db_default="")
    file_size = models.BigIntegerField(default=0, db_default=0)
    # The django.tasks task that runs the job (for scoring, the one that splits it in parts).
    task_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        db_table = "jobs"
        ordering = ["-id"]
        indexes = [
            # The run page and the evaluation panel: a target's latest jobs (of a kind).
            models.Index(fields=["target_type", "target_id", "-id"], name="jobs_target_latest"),
            # The import page's recent imports: latest jobs of a kind.
            models.Index(fields=["kind", "-id"], name="jobs_kind_latest"),
            # /api/v1/tasks/<id>/ finds the job by its task.
            models.Index(fields=["task_id"], name="jobs_task_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=JobKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=JobState.values),
                name="%(app_label)s_%(class)s_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(parts_done__gte=0, parts_done__lte=F("parts_total")),
                name="%(app_label)s_%(class)s_parts_within_total",
            ),
            models.CheckConstraint(
                condition=Q(target_type__isnull=True) | Q(target_id__isnull=False),
                name="%(app_label)s_%(class)s_target_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def percent(self) -> int:
        if self.state == JobState.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(99, self.done * 100 // self.total)

    def store_upload(self, upload: UploadedFile) -> None:
        """Keep an uploaded file for the worker (case and response imports alike): stored
        under MEDIA_ROOT/uploads/ with a name of our own, its original name and size noted."""
        suffix = "".join(c for c in upload.name.rsplit(".", 1)[-1][:10] if c.isalnum())
        self.file.save(f"{uuid.uuid4().hex}.{suffix or 'bin'}", upload, save=False)
        self.file_name = (upload.name or "")[:255]
        self.file_size = upload.size or 0

    def enqueue(self, task: Any, *args: Any) -> Any:
        """Queue `task(*args)` for this saved job and note its task id. Call it in the
        transaction that created the job: a worker then never sees the task without it."""
        result = task.enqueue(*args)
        self.task_id = str(result.id)
        Job.objects.filter(pk=self.pk).update(task_id=self.task_id)
        return result
