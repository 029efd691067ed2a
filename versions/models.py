"""Case revisions and frozen golden-set versions.

A case's content lives in `test_cases`, with a `revision` counter this app adds (migration
0001): PostgreSQL triggers bump it when the content changes and copy the previous content into
`case_revisions`, on every write path at once (forms, admin, bulk actions, API, review queue,
raw SQL). A deleted case's last content is kept there too. So the content of (case, revision)
is the `case_revisions` row when there is one, else the live case; `version_case_contents` (a
view) answers that for every case of every version.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

# The content a revision keeps and a version pins: a change to any of these is a new revision.
CONTENT_FIELDS = (
    "input_data",
    "input_type",
    "input_format",
    "ground_truth",
    "output_type",
    "model_type",
    "category",
    "tags",
    "difficulty",
    "origin",
    "is_verified",
)
# Copied along for exports of deleted cases, not versioned (provenance notes and the outside
# identifier are not what a case asks or expects).
SNAPSHOT_FIELDS = (*CONTENT_FIELDS, "metadata", "external_id")


class CaseContent(models.Model):
    """The columns of a case's content, as in test_cases."""

    input_data = models.JSONField()
    input_type = models.CharField(max_length=50)
    input_format = models.CharField(max_length=50)
    ground_truth = models.JSONField()
    output_type = models.CharField(max_length=50)
    model_type = models.CharField(max_length=50)
    category = models.CharField(max_length=100)
    tags = ArrayField(models.CharField(max_length=50), default=list)
    difficulty = models.CharField(max_length=10)
    origin = models.CharField(max_length=20)
    is_verified = models.BooleanField()
    metadata = models.JSONField(default=dict)
    external_id = models.CharField(max_length=200, null=True)  # noqa: DJ001 (as in test_cases)

    class Meta:
        abstract = True

    def content(self) -> dict:
        return {field: getattr(self, field) for field in SNAPSHOT_FIELDS}


class CaseRevision(CaseContent):
    """A case's content as it was before a change (kind "update") or a delete ("delete").

    Written only by the database triggers (migration 0001); `changed_by` is the user the request
    ran as (`mleval_site.db.set_acting_user`), null for commands and raw SQL.
    """

    KINDS = [("update", "Edited"), ("delete", "Deleted")]

    case_id = models.BigIntegerField()
    revision = models.IntegerField()
    kind = models.CharField(max_length=10, choices=KINDS)
    changed_fields = ArrayField(models.CharField(max_length=30), default=list)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "case_revisions"
        ordering = ["case_id", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["case_id", "revision"], name="versions_caserevision_one_per_revision"
            )
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} revision {self.revision}"


class Version(models.Model):
    """A named, immutable set of (case, revision) pairs; frozen once, never edited."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    selection = models.JSONField(default=dict, blank=True)  # the filters it was frozen from
    case_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_versions",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "versions"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("versions:detail", args=[self.pk])

    def as_ref(self) -> dict:
        """How runs' JSON names it."""
        return {"id": self.pk, "name": self.name}


class VersionCase(models.Model):
    """One (case, revision) pair of a version. No foreign key to the case: it outlives it."""

    pk = models.CompositePrimaryKey("version", "case_id")
    # No database constraint either: a million per-row key checks would triple a freeze's
    # cost, and versions are never deleted (a trigger refuses it).
    version = models.ForeignKey(
        Version, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    case_id = models.BigIntegerField()
    revision = models.IntegerField()

    class Meta:
        db_table = "version_cases"

    def __str__(self) -> str:
        return f"version {self.version_id} case {self.case_id}@{self.revision}"


class VersionCaseContent(CaseContent):
    """Read-only: each version case's content at its pinned revision (the SQL view)."""

    pk = models.CompositePrimaryKey("version", "case_id")
    version = models.ForeignKey(
        Version, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    case_id = models.BigIntegerField()
    revision = models.IntegerField()
    deleted = models.BooleanField()  # the case no longer exists (its content is kept)
    edited = models.BooleanField()  # the case exists and was edited since the version

    class Meta:
        managed = False
        db_table = "version_case_contents"
        ordering = ["case_id"]

    def __str__(self) -> str:
        return f"version {self.version_id} case {self.case_id}@{self.revision}"
