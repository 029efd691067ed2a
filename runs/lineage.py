"""Model lineage: a model version may name the version it came from (fine-tuned, distilled...).

Models are strings on runs (``model_name``, ``model_version``); a :class:`ModelVersion` row
exists only for a version whose lineage someone recorded (or that is another's parent), so a
parent may be a model mleval never ran (a base checkpoint). The rule that lineage has no cycle
lives in PostgreSQL (migration 0009): ``model_version_ancestors(id)`` walks the parents, and a
trigger refuses a parent among the row's own descendants under an advisory lock, so two
concurrent writes cannot close a loop between them. :meth:`ModelVersion.clean` asks the same
function, so forms and the admin say it per field before the trigger has to.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.db.models.functions import Now

#: The trigger's name, also the constraint name its refusal carries (migration 0009).
CYCLE = "model_versions_no_cycle"
#: Most versions a model page's tree shows (the most recently recorded; a guard, not a rule).
TREE_LIMIT = 200


class LineageKind(models.TextChoices):
    FINE_TUNED = "fine_tuned", "fine-tuned from"
    DISTILLED = "distilled", "distilled from"
    QUANTIZED = "quantized", "quantized from"
    MERGED = "merged", "merged from"
    DERIVED = "derived", "derived from"


class LineageCycle(ValidationError):
    """The parent is the version itself or one of its descendants."""


class ModelVersion(models.Model):
    """One model version (as runs spell it) and the version it was made from."""

    Kind = LineageKind

    model_name = models.CharField(max_length=255)
    model_version = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    parent_kind = models.CharField(
        max_length=20, choices=LineageKind.choices, blank=True, default="", db_default=""
    )
    note = models.CharField(max_length=500, blank=True, default="", db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "model_versions"
        ordering = ["model_name", "model_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "model_version"], name="%(app_label)s_%(class)s_unique"
            ),
            models.CheckConstraint(
                condition=~Q(model_name="") & ~Q(model_version=""),
                name="%(app_label)s_%(class)s_identity_required",
            ),
            # A kind says how the version came from its parent: both or neither.
            models.CheckConstraint(
                condition=Q(parent__isnull=True, parent_kind="")
                | Q(parent__isnull=False, parent_kind__in=LineageKind.values),
                name="%(app_label)s_%(class)s_kind_with_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version}"

    def ancestor_ids(self) -> list[int]:
        """The parent's id, its parent's... (the database's walk, the trigger's own)."""
        if self.parent_id is None:
            return []
        with connection.cursor() as cursor:
            cursor.execute("SELECT model_version_ancestors(%s)", [self.parent_id])
            return list(cursor.fetchone()[0] or [])

    def clean(self) -> None:
        """No cycle: the parent is neither this version nor one of its descendants."""
        errors = {}
        if self.parent_id is not None and not self.parent_kind:
            errors["parent_kind"] = "Say how this version came from its parent."
        if self.parent_id is None and self.parent_kind:
            errors["parent"] = "A kind needs a parent version."
        if self.parent_id is not None and (
            self.parent_id == self.pk or (self.pk is not None and self.pk in self.ancestor_ids())
        ):
            errors["parent"] = LineageCycle(
                f"{self.parent} descends from {self}: a version cannot come from itself "
                "(lineage has no cycle)."
            )
        if errors:
            raise ValidationError(errors)

    @classmethod
    def record(
        cls,
        model_name: str,
        model_version: str,
        parent: tuple[str, str] | None,
        kind: str = "",
        *,
        note: str = "",
        user=None,
    ) -> ModelVersion:
        """Set (or clear, ``parent`` None) the version's parent, creating the rows named;
        ValidationError per field (a cycle on ``parent``), also when a concurrent write
        closed the loop first (the trigger's refusal)."""
        try:
            with transaction.atomic():
                row, _ = cls.objects.get_or_create(
                    model_name=model_name, model_version=model_version,
                    defaults={"created_by": user},
                )  # fmt: skip
                row.parent = None
                if parent is not None:
                    row.parent, _ = cls.objects.get_or_create(
                        model_name=parent[0], model_version=parent[1],
                        defaults={"created_by": user},
                    )  # fmt: skip
                row.parent_kind = kind if parent is not None else ""
                row.note = note
                row.full_clean(validate_unique=False, validate_constraints=False)
                row.save()
        except IntegrityError as error:
            if getattr(getattr(error.__cause__, "diag", None), "constraint_name", "") != CYCLE:
                raise
            raise ValidationError(
                {"parent": LineageCycle("That parent would make a lineage cycle.")}
            ) from None
        return row

    @classmethod
    def family(cls, model_name: str) -> list[ModelVersion]:
        """Every version linked to this model's versions by lineage, either way (their
        ancestors, descendants and these' relatives), by name and version, in one query; the
        ``TREE_LIMIT`` most recently recorded when there are more."""
        return list(
            cls.objects.raw(
                """
                WITH RECURSIVE family(id) AS (
                    SELECT id FROM model_versions WHERE model_name = %s
                    UNION
                    SELECT mv.id FROM family f
                    JOIN model_versions c ON c.id = f.id
                    JOIN model_versions mv ON mv.parent_id = c.id OR mv.id = c.parent_id
                )
                SELECT * FROM (
                    SELECT mv.* FROM model_versions mv WHERE mv.id IN (SELECT id FROM family)
                    ORDER BY mv.created_at DESC, mv.id DESC LIMIT %s
                ) newest ORDER BY model_name, model_version
                """,
                [model_name, TREE_LIMIT],
            )
        )


def lineage_tree(rows: list[ModelVersion]) -> list[dict]:
    """The family as a tree in reading order: ``{"node", "depth"}`` rows, each node after
    its parent, roots (a row whose parent is outside ``rows``) at depth 0, siblings by name and
    version. Flat, and walked without recursion: a chain of a hundred nightly fine-tunes is
    as easy to draw as two versions."""
    by_parent: dict[int | None, list[ModelVersion]] = {}
    ids = {row.pk for row in rows}
    for row in rows:
        by_parent.setdefault(row.parent_id if row.parent_id in ids else None, []).append(row)
    out: list[dict] = []
    pending = [(row, 0) for row in reversed(by_parent.get(None, []))]
    while pending:
        row, depth = pending.pop()
        out.append({"node": row, "depth": depth})
        pending.extend((child, depth + 1) for child in reversed(by_parent.get(row.pk, [])))
    return out
