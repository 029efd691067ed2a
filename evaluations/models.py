from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from runs.models import ModelRun, Response


def one_per_evaluator_sql(alias: str = "e") -> str:
    """The SQL condition keeping one verdict per (response, evaluator) among ``alias``'s rows.

    Each grader's own ``human`` verdict is a row with its grader set; the graders' majority
    (the panel's verdict) is the row without one, as is every automatic verdict. Everything
    that counts or pairs verdicts per evaluator (report figures, comparison pairs, McNemar)
    reads only these rows, so a response graded by three people counts once.
    """
    return f"{alias}.grader_id IS NULL"


#: :func:`one_per_evaluator_sql` for the reports' usual alias ``e``.
ONE_PER_EVALUATOR = one_per_evaluator_sql("e")


class EvaluationQuerySet(models.QuerySet):
    def for_run(self, run: ModelRun | int) -> "EvaluationQuerySet":
        return self.filter(response__run=run)

    def one_per_evaluator(self) -> "EvaluationQuerySet":
        """One verdict per (response, evaluator): not each grader's own (ONE_PER_EVALUATOR)."""
        return self.filter(grader__isnull=True)

    def curation_errors(self) -> "EvaluationQuerySet":
        """Verdicts that blame the ground truth, not the model (a curator must fix the case).

        Written as jsonb containment, the condition of the partial index that answers it.
        """
        return self.filter(metrics__contains={"ground_truth_error": True})


class Evaluation(models.Model):
    """One evaluator's verdict on one response; evaluating again replaces it (an upsert).

    ``grader`` is set only on a grader's own ``human`` verdict (grading.verdicts); the graders'
    majority on the response is a ``human`` row without one, the verdict reports count.
    PROTECT: a verdict records who gave it, so a person who graded is deactivated, not deleted
    (SET_NULL would turn their verdict into a second panel verdict, CASCADE would leave the
    panel's majority counting a vote that no longer exists).
    """

    # No index of its own: the unique (response, evaluator_type, grader) leads with it, and a
    # second index on response_id was one more entry each verdict insert maintained.
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="evaluations", db_index=False
    )
    evaluator_type = models.CharField(max_length=100)
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the partial index below: automatic verdicts never have one
    )
    score = models.FloatField()
    passed = models.BooleanField()
    metrics = models.JSONField(default=dict, blank=True, db_default={})
    feedback = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    # The scoring pipeline's digest of (score, passed, metrics, feedback) as it wrote them, so
    # a re-score sends only verdicts whose digest changed (evaluations.pipeline). Any other
    # change to those columns clears it (a trigger, migration 0015): null means "compare".
    content_digest = models.BinaryField(null=True, editable=False)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        db_table = "evaluations"
        ordering = ["id"]
        indexes = [
            # Curation errors (curation_errors()): rare rows, so a partial index of just them, not
            # a GIN index of every verdict's metrics that each (re-)scoring write must maintain.
            models.Index(
                fields=["response"],
                condition=Q(metrics__contains={"ground_truth_error": True}),
                name="evals_curation_errors",
            ),
            # The report's failing verdicts, worst first, a page at a time (keyset): walked in
            # this order, the first page of a million-response run needs a few dozen rows
            # instead of sorting every failed verdict of the run.
            models.Index(
                fields=["score", "id"], condition=Q(passed=False), name="evals_failing_worst_first"
            ),
            # The same for one evaluator (the table's evaluator filter): walking the index
            # above, it would first pass every other evaluator's failures of the same score.
            models.Index(
                fields=["evaluator_type", "score", "id"],
                condition=Q(passed=False),
                name="evals_failing_by_evaluator",
            ),
            # A grader's verdicts (deleting a user checks them): only the few human rows, so
            # scoring writes never maintain it.
            models.Index(
                fields=["grader"], condition=Q(grader__isnull=False), name="evals_by_grader"
            ),
        ]
        constraints = [
            # One verdict per (response, evaluator) and grader, no grader counting as one
            # (NULLS NOT DISTINCT): the scoring upsert's ON CONFLICT target (pipeline.py).
            models.UniqueConstraint(
                fields=["response", "evaluator_type", "grader"],
                name="%(app_label)s_%(class)s_one_per_evaluator_grader",
                nulls_distinct=False,
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


# --- The probabilities of label_match verdicts, compact (evaluations/reports/scores.py) ---


class LabelScore(models.Model):
    """A well-formed label_match verdict's probabilities, narrow and keyed by run: the report's
    ROC, PR and calibration figures read a million of them without joining responses or
    decoding verdict JSON (issue 21's benchmark). Only PostgreSQL triggers write it (migration
    0011, from each statement's inserted, updated, deleted or truncated verdicts), so no write
    path can forget to; a verdict with ``scores`` has ``labels``/``probabilities`` (the
    distribution), one with only a numeric ``confidence`` has that (the predicted label's
    probability). One row per (run, case): a run answers a case once, judged once per
    evaluator."""

    pk = models.CompositePrimaryKey("run", "test_case_id")
    run = models.ForeignKey(
        ModelRun,
        on_delete=models.DO_NOTHING,  # its verdicts' delete takes the rows along
        db_constraint=False,
        db_index=False,  # the primary key (run, case) serves
        related_name="+",
    )
    test_case_id = models.BigIntegerField()
    actual = models.TextField()
    predicted = models.TextField()
    labels = ArrayField(models.TextField(), null=True)
    probabilities = ArrayField(models.FloatField(), null=True)
    confidence = models.FloatField(null=True)

    class Meta:
        db_table = "label_scores"

    def __str__(self) -> str:
        return f"label scores of run {self.run_id}, case {self.test_case_id}"


# --- Summaries: a run's report figures, computed once and kept (evaluations/summaries.py) ---


class RunDataVersion(models.Model):
    """A run's data version: PostgreSQL triggers (migration 0004) add one whenever a statement
    writes anything a report figure reads (its responses, their verdicts, their cases, its
    run_cases, its config). Only triggers write it, so no write path can forget to."""

    run = models.OneToOneField(
        ModelRun,
        primary_key=True,
        on_delete=models.DO_NOTHING,  # the model_runs delete trigger removes it
        db_constraint=False,
        related_name="data_version",
    )
    version = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "run_data_versions"

    def __str__(self) -> str:
        return f"run {self.run_id} data version {self.version}"


class CaseSetVersion(models.Model):
    """One row: bumped by every statement that inserts, updates or deletes test cases. A run's
    selection drift (new cases matching its selection) depends on the whole case set."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "case_set_version"

    def __str__(self) -> str:
        return f"case set version {self.version}"


class RunSummary(models.Model):
    """A run's report figures as of data version ``version`` (and its selection drift as of
    case-set version ``cases_version``): current only while both still match."""

    run = models.OneToOneField(
        ModelRun,
        primary_key=True,
        on_delete=models.DO_NOTHING,  # the model_runs delete trigger removes it
        db_constraint=False,
        related_name="summary",
    )
    version = models.BigIntegerField(null=True)
    cases_version = models.BigIntegerField(null=True)
    # JSON text, not jsonb: floats come back bit for bit (jsonb turns 1e16 into an integer).
    figures = models.TextField(blank=True, default="", db_default="")
    computed_at = models.DateTimeField(null=True)
    # The headline figures the run list sorts by (evaluations.summary_store.headline).
    pass_rate = models.FloatField(null=True)
    pass_rate_evaluator = models.CharField(max_length=100, blank=True, default="", db_default="")
    latency_p95 = models.FloatField(null=True)
    # The selection's drift (runs.selection) as of cases_version, JSON text.
    drift = models.TextField(blank=True, default="", db_default="")
    # Refresh deduplication: the versions a refresh was last queued for, and when.
    requested_version = models.BigIntegerField(null=True)
    requested_cases_version = models.BigIntegerField(null=True)
    requested_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "run_summaries"
        indexes = [
            models.Index(fields=["pass_rate"], name="evals_summary_pass_rate"),
            models.Index(fields=["latency_p95"], name="evals_summary_latency_p95"),
        ]

    def __str__(self) -> str:
        return f"summary of run {self.run_id} at version {self.version}"


class ComparisonSummary(models.Model):
    """The comparison of two runs as of both runs' data versions (evaluations.summaries)."""

    run_a = models.ForeignKey(
        ModelRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    run_b = models.ForeignKey(
        ModelRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    version_a = models.BigIntegerField()
    version_b = models.BigIntegerField()
    figures = models.TextField()
    computed_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "comparison_summaries"
        constraints = [
            models.UniqueConstraint(fields=["run_a", "run_b"], name="evals_comparison_pair"),
        ]

    def __str__(self) -> str:
        return f"comparison of runs {self.run_a_id} and {self.run_b_id}"


# --- The LLM judge's replies and rate-limit slots (evaluations/judging/) ---


class JudgeCall(models.Model):
    """One reply of an LLM judge, kept so the same question is never asked twice: re-scoring a
    run, scoring a second run on the same answers and resuming a killed worker all read it.

    ``key`` is the SHA-256 of what decides the reply: the judge's endpoint and model, the
    request's parameters (temperature, response format, ...), the rendered messages and the
    repeat number (``repeats`` asks n times, so n keys). Failed calls are not kept (asked
    again next time); a reply that is not a verdict is (the judge answered, and paid for).
    Tokens, latency and cost are the call's own, at the prices of the time it was made.
    """

    key = models.CharField(max_length=64, unique=True)
    endpoint = models.TextField()
    model = models.CharField(max_length=255)
    repeat = models.SmallIntegerField(default=0)
    content = models.TextField()
    input_tokens = models.IntegerField(null=True)
    output_tokens = models.IntegerField(null=True)
    latency_ms = models.FloatField(null=True)
    cost = models.FloatField(null=True)  # input and output tokens at the per-million prices
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "judge_calls"

    def __str__(self) -> str:
        return f"judge call {self.key[:12]} ({self.model})"


class JudgeRateLimit(models.Model):
    """A judge's next free request slot (runs.ratelimit's rule), keyed by the judge: its
    connection's name, or endpoint and model. Every evaluation asking that judge shares it."""

    key = models.CharField(max_length=300, primary_key=True)
    next_at = models.DateTimeField()

    class Meta:
        db_table = "judge_rate_limits"

    def __str__(self) -> str:
        return f"judge rate limit {self.key}"


class JudgingTally(models.Model):
    """What the latest scoring of one chunk of a run read from the judge cache, per judged
    evaluator: the report's ``judging`` block counts cache hits from here, not from a flag on
    each verdict, so re-scoring from the cache leaves unchanged verdicts unwritten.

    One row per (run, evaluator, chunk's first response id); written in the transaction that
    writes the chunk's verdicts (evaluations.judging.tallies), replacing any row whose id
    range overlaps. Triggers (migration 0010) move the run's data version when a row changes,
    and drop a run's rows with the run.
    """

    run = models.ForeignKey(
        ModelRun,
        on_delete=models.DO_NOTHING,  # the model_runs delete trigger removes them
        db_constraint=False,
        db_index=False,  # the unique constraint's index leads with run
        related_name="+",
    )
    evaluator_type = models.CharField(max_length=100)
    first_response_id = models.BigIntegerField()
    last_response_id = models.BigIntegerField()
    cached_verdicts = models.IntegerField()  # judged verdicts whose every call was cached
    cached_calls = models.IntegerField()  # judge calls read from the cache instead of asked
    cached_cost = models.FloatField(null=True)  # what those calls cost when first asked
    scored_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "judging_tallies"
        constraints = [
            models.UniqueConstraint(
                fields=["run", "evaluator_type", "first_response_id"],
                name="judging_tally_one_per_chunk",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.evaluator_type} judging tally of run {self.run_id} from response " + str(
            self.first_response_id
        )
