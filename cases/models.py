import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from mleval_site.db import (
    CascadingDeleteQuerySet,
    JsonbTypeOf,
    TouchingQuerySet,
    UpdateNeverInserts,
)


class JsonbToTsvector(models.Func):
    """Words of a JSON document's string and number values ('simple' config: no stemming).

    Immutable with an explicit config, so it can feed a stored generated column.
    """

    template = (
        "jsonb_to_tsvector('simple'::regconfig, %(expressions)s, '[\"string\", \"numeric\"]')"
    )
    output_field = SearchVectorField()


class Origin(models.TextChoices):
    HUMAN = "human", "Human"
    AI_GENERATED = "ai-generated", "AI-generated"


class Difficulty(models.TextChoices):
    EASY = "easy", "Easy"
    MEDIUM = "medium", "Medium"
    HARD = "hard", "Hard"


class Scope(models.TextChoices):
    """How far a selection is widened beyond the golden set."""

    GOLDEN = "golden", "Golden set (human, verified)"
    VERIFIED = "verified", "Golden set + reviewed AI-generated"
    ALL = "all", "All cases, unverified included"


# The golden set and the review queue as conditions: golden() and awaiting_review() filter on
# them, and a conditional count (the dashboard's) uses the same ones.
GOLDEN = Q(origin=Origin.HUMAN, is_verified=True)
AWAITING_REVIEW = Q(origin=Origin.AI_GENERATED, is_verified=False)


class TestCaseQuerySet(CascadingDeleteQuerySet, TouchingQuerySet):
    """`delete()` takes the cases' responses and evaluations in SQL; `update()` moves updated_at."""

    def golden(self) -> "TestCaseQuerySet":
        """The golden set: human-written, verified cases. Every selection starts here."""
        return self.filter(GOLDEN)

    def in_scope(self, scope: str) -> "TestCaseQuerySet":
        """Widen the golden set only as far as the user asked (see TestCase.Scope)."""
        if scope == Scope.ALL:
            return self.all()
        if scope == Scope.VERIFIED:
            return self.filter(is_verified=True)
        return self.golden()

    def search(self, text: str) -> "TestCaseQuerySet":
        """Full-text search over input and ground-truth values, web-search syntax ("a -b"),
        'simple' config like the stored vector; served by its GIN index."""
        return self.filter(
            search_vector=SearchQuery(text, config="simple", search_type="websearch")
        )

    def awaiting_review(self) -> "TestCaseQuerySet":
        """AI-generated cases no person has approved yet, oldest first."""
        return self.filter(AWAITING_REVIEW).order_by("created_at", "id")

    def fingerprint(self) -> dict:
        """{"count", "fingerprint"}: an md5 over the cases' ids and updated_at, computed in SQL.

        Equal fingerprints mean the same cases, none edited since: a run compares the one it
        stored at registration with its selection's current one to warn about drift.
        """
        try:
            sql, params = self.order_by().values("id", "updated_at").query.sql_with_params()
        except EmptyResultSet:  # .none() and filters that can match nothing
            return {"count": 0, "fingerprint": hashlib.md5(b"").hexdigest()}
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT count(*), md5(coalesce(string_agg("
                "id::text || ':' || extract(epoch FROM updated_at)::text, ',' ORDER BY id), ''))"
                f" FROM ({sql}) AS selection",
                params,
            )
            count, fingerprint = cursor.fetchone()
        return {"count": count, "fingerprint": fingerprint}


class TestCase(UpdateNeverInserts, models.Model):
    __test__ = False  # not a pytest test class despite its name

    Origin = Origin
    Difficulty = Difficulty
    Scope = Scope

    input_data = models.JSONField()
    input_type = models.SlugField(max_length=50, db_index=False)
    input_format = models.SlugField(max_length=50, blank=True, default="", db_index=False)
    ground_truth = models.JSONField()
    output_type = models.SlugField(max_length=50, db_index=False)
    model_type = models.SlugField(max_length=50, blank=True, default="", db_index=False)
    category = models.CharField(max_length=100, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True, db_default=[])
    difficulty = models.CharField(
        max_length=10, choices=Difficulty.choices, blank=True, default="", db_default=""
    )
    origin = models.CharField(
        max_length=20, choices=Origin.choices, default=Origin.HUMAN, db_default=Origin.HUMAN
    )
    is_verified = models.BooleanField(default=True, db_default=True)
    metadata = models.JSONField(default=dict, blank=True, db_default={})
    # The case's id in the system it came from (a dataset row, a spreadsheet key): imports and
    # the API upsert on it, and a response line may name its case by it. Unique when set; NULL
    # (not "") when unset, so JSON says null and the partial unique index skips it.
    external_id = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, default=None
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_cases",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), editable=False)
    # Full-text search over input and ground truth values, kept by PostgreSQL itself.
    search_vector = models.GeneratedField(
        expression=models.expressions.CombinedExpression(
            JsonbToTsvector("input_data"),
            "||",
            JsonbToTsvector("ground_truth"),
            output_field=SearchVectorField(),
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = TestCaseQuerySet.as_manager()

    class Meta:
        db_table = "test_cases"
        ordering = ["-id"]
        indexes = [
            # model_type / category filters, and the case list sorted by them: id is the
            # keyset tiebreak (ORDER BY category, id ... WHERE (category, id) > (...)).
            models.Index(fields=["model_type", "id"], name="cases_testcase_model_type"),
            models.Index(fields=["category", "id"], name="cases_testcase_category"),
            # The case list sorted by "recently edited".
            models.Index(fields=["updated_at", "id"], name="cases_testcase_updated"),
            # golden() and the review queue filter on origin first.
            models.Index(fields=["origin", "is_verified"], name="cases_testcase_origin"),
            # JSON key/value filters (`lang=en`) use containment: input_data @> '{"lang": "en"}'.
            GinIndex(fields=["input_data"], name="cases_testcase_input_gin"),
            GinIndex(fields=["ground_truth"], name="cases_testcase_truth_gin"),
            GinIndex(fields=["metadata"], name="cases_testcase_meta_gin"),
            # Tag filters: tags && ARRAY[...] (any) and tags @> ARRAY[...] (all).
            GinIndex(fields=["tags"], name="cases_testcase_tags_gin"),
            GinIndex(fields=["search_vector"], name="cases_testcase_search_gin"),
        ]
        constraints = [
            # Partial: any number of cases have none. Import's ON CONFLICT names this predicate.
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="cases_testcase_external_id_unique",
            ),
            models.CheckConstraint(
                condition=~Q(external_id=""), name="%(app_label)s_%(class)s_external_id_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(origin__in=Origin.values), name="%(app_label)s_%(class)s_origin_valid"
            ),
            models.CheckConstraint(
                condition=Q(difficulty__in=["", *Difficulty.values]),
                name="%(app_label)s_%(class)s_difficulty_valid",
            ),
            models.CheckConstraint(
                condition=~Q(input_type="") & ~Q(output_type=""),
                name="%(app_label)s_%(class)s_types_required",
            ),
            models.CheckConstraint(
                condition=Q(JsonbTypeOf("input_data", "object")),
                name="%(app_label)s_%(class)s_input_is_object",
            ),
            models.CheckConstraint(
                condition=Q(JsonbTypeOf("metadata", "object")),
                name="%(app_label)s_%(class)s_metadata_is_object",
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.model_type or self.output_type})"

    def save(self, **kwargs) -> None:
        if not self._state.adding:
            self.updated_at = timezone.now()
            if (update_fields := kwargs.get("update_fields")) is not None:
                kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(**kwargs)

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("cases:detail", args=[self.pk])

    def delete(self, using=None, keep_parents=False) -> tuple[int, dict[str, int]]:
        """Through the set-based cascade (mleval_site.db), not Django's row-loading collector."""
        return TestCase.objects.using(using or self._state.db).filter(pk=self.pk).delete()


def default_is_verified(origin: str) -> bool:
    """Human cases are verified unless said otherwise; ai-generated ones wait for review."""
    return origin != Origin.AI_GENERATED


class ImportMapping(models.Model):
    """A saved column mapping (cases.mapping, as JSON), offered for the next file.

    Shared by the team, not per user: a mapping describes a data source's columns (a hub
    dataset, a warehouse export), and whoever imports that source's next file needs the same
    one. Saving under an existing name replaces it; who saved it last is kept.
    """

    name = models.CharField(max_length=100, unique=True)
    mapping = models.JSONField()
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "import_mappings"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""), name="%(app_label)s_%(class)s_name_required"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def remember(cls, name: str, mapping: dict, user=None) -> "ImportMapping":
        """Save `mapping` (cases.mapping's JSON) under `name`, replacing one of that name."""
        saved, _ = cls.objects.update_or_create(
            name=name.strip(), defaults={"mapping": mapping, "saved_by": user}
        )
        return saved


class CaseFlagQuerySet(models.QuerySet):
    def open(self) -> "CaseFlagQuerySet":
        """Flags no curator has resolved yet, oldest first (the review queue lists them)."""
        return self.filter(resolved_at__isnull=True).order_by("created_at", "id")


class CaseFlag(models.Model):
    """A person's note that a case needs a curator's look (a wrong ground truth, an unclear
    input): it waits in the review queue until a curator resolves it. Grading's
    disagreements page writes them; any app may."""

    case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="flags")
    comment = models.TextField()
    source = models.CharField(max_length=50, blank=True, default="", help_text="e.g. grading")
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CaseFlagQuerySet.as_manager()

    class Meta:
        db_table = "case_flags"
        ordering = ["created_at", "id"]
        indexes = [
            # The review queue's open flags: WHERE resolved_at IS NULL ORDER BY created_at.
            models.Index(
                fields=["created_at"],
                condition=Q(resolved_at__isnull=True),
                name="cases_flag_open",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(comment=""), name="%(app_label)s_%(class)s_comment_required"
            ),
        ]

    def __str__(self) -> str:
        return f"flag on case {self.case_id}: {self.comment[:40]}"
