"""Responses pushed into a run: the one path for `import_responses`, the page upload and the API.

Every line is checked in Python (it must be read anyway) and streamed with `COPY` into a staging
table; PostgreSQL then checks every case against the run's fixed case set and writes them all
with one `INSERT ... ON CONFLICT` upsert on (run, test case). It is all one transaction: any
bad line means nothing is written, and the run's counts are recounted before it commits.

Every line is checked, and every problem is reported at once, line-ordered (up to MAX_ERRORS
of runs.response_lines, which reads and checks the lines): the good lines of a file with bad ones
still go to the staging table, so the database's checks (a case outside the run, an unknown
external_id) are reported with the lines' own problems, not in a second round after they are
fixed."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, models, transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now

from accounts.audit import record
from jobs.signals import wrote
from mleval_site.db import delete_dependents
from runs.models import ModelRun, Response, RunStatus
from runs.response_lines import IngestError, LineErrors, numbered_items, response_row

COPY_BATCH = 2000


@dataclass(frozen=True)
class IngestResult:
    imported: int  # lines accepted
    created: int  # new responses
    replaced: int  # responses that existed and were replaced
    skipped: int = 0  # responses that existed and were kept (replace=False)


def _stale_responses(run: ModelRun) -> models.QuerySet:
    """The run's responses the staged lines change: what judged them (their verdicts, their
    grading items and grades: every CASCADE below a response) judged the old answer."""
    return Response.objects.filter(pk__in=RawSQL(STALE_SQL, [run.pk]))


STAGING_SQL = """
CREATE TEMP TABLE IF NOT EXISTS runs_ingest_staging (
    line integer, test_case_id bigint, external_id text, latency_ms float8, memory_mb float8,
    tokens_used integer, error_message text, raw text
) ON COMMIT DROP;
TRUNCATE runs_ingest_staging;
"""

# Lines naming their case by external_id get its id; those naming none stay NULL (reported).
RESOLVE_SQL = """
UPDATE runs_ingest_staging AS s SET test_case_id = t.id
FROM test_cases AS t
WHERE s.test_case_id IS NULL AND t.external_id = s.external_id
"""

UNKNOWN_SQL = """
SELECT line, external_id FROM runs_ingest_staging
WHERE test_case_id IS NULL ORDER BY line LIMIT %(limit)s
"""

# One case named twice, once by id and once by external_id (the same key twice is caught
# while reading).
TWICE_SQL = """
SELECT line, test_case_id, first FROM (
    SELECT line, test_case_id, min(line) OVER (PARTITION BY test_case_id) AS first
    FROM runs_ingest_staging WHERE test_case_id IS NOT NULL
) AS named WHERE line <> first ORDER BY line LIMIT %(limit)s
"""

OUTSIDE_SQL = """
SELECT s.line, s.test_case_id, rc.test_case_id IS NOT NULL, s.external_id
FROM runs_ingest_staging AS s
LEFT JOIN run_cases AS rc ON rc.run_id = %(run)s AND rc.test_case_id = s.test_case_id
WHERE s.test_case_id IS NOT NULL AND (
    rc.test_case_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM test_cases AS t WHERE t.id = s.test_case_id))
ORDER BY s.line
LIMIT %(limit)s
"""

STALE_SQL = """
SELECT r.id FROM responses AS r
JOIN runs_ingest_staging AS s ON s.test_case_id = r.test_case_id
WHERE r.run_id = %s
  AND (r.output_data IS DISTINCT FROM (s.raw::jsonb -> 'output_data')
       OR r.error_message IS DISTINCT FROM coalesce(s.error_message, ''))
"""

# A run with no response yet cannot conflict: a plain INSERT, without the upsert's per-row
# speculative insertion (the first import of a big file, the common case).
INSERT_SQL = """
INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, memory_mb, tokens_used,
                       error_message, created_at)
SELECT %(run)s, s.test_case_id, s.raw::jsonb -> 'output_data', s.latency_ms, s.memory_mb,
       s.tokens_used, coalesce(s.error_message, ''), statement_timestamp()
FROM runs_ingest_staging AS s
"""

UPSERT_SQL = """
WITH written AS (
    INSERT INTO responses AS r (run_id, test_case_id, output_data, latency_ms, memory_mb,
                                tokens_used, error_message, created_at)
    SELECT %(run)s, s.test_case_id, s.raw::jsonb -> 'output_data', s.latency_ms, s.memory_mb,
           s.tokens_used, coalesce(s.error_message, ''), statement_timestamp()
    FROM runs_ingest_staging AS s
    ORDER BY s.test_case_id  -- the executor's order too, so concurrent writers cannot deadlock
    ON CONFLICT (run_id, test_case_id) DO {action}
    RETURNING (xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created), count(*) FROM written
"""

REPLACE_ACTION = """UPDATE SET
        output_data = EXCLUDED.output_data, latency_ms = EXCLUDED.latency_ms,
        memory_mb = EXCLUDED.memory_mb, tokens_used = EXCLUDED.tokens_used,
        error_message = EXCLUDED.error_message, created_at = EXCLUDED.created_at"""


def ingest_responses(
    run: ModelRun, items: Iterable, *, replace: bool = True, actor=None
) -> IngestResult:
    """Store responses into `run` atomically; raise IngestError (naming lines) and write nothing.

    `items`: JSONL lines (str or bytes, numbered from 1; blank lines skipped) or already-parsed
    objects (an API's JSON list, numbered by index from 0). A case outside the run's cases, a
    case given twice, an unknown external_id, a negative measurement or a missing field is an
    error; every one is reported (up to MAX_ERRORS), in one IngestError. `replace=False`
    keeps existing responses instead of replacing them. `actor` (a user or user id) is who the
    audit trail names.
    """
    errors = LineErrors()
    seen: dict[int | str, int] = {}  # test_case_id or external_id -> its first line
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STAGING_SQL)
        with cursor.copy(
            "COPY runs_ingest_staging (line, test_case_id, external_id, latency_ms, memory_mb, "
            "tokens_used, error_message, raw) FROM STDIN"
        ) as copy:
            batch: list[str] = []
            for number, item in numbered_items(items):
                row = response_row(number, item, errors)
                if row is None:
                    if errors.full:
                        errors.more = True
                        break
                    continue
                key, text = row
                if (first := seen.setdefault(key, number)) != number:
                    if type(key) is str:
                        message = f"{key!r} already given on line {first}"
                        errors.add(number, "external_id", message, conflict=True)
                    else:
                        message = f"test case {key} already given on line {first}"
                        errors.add(number, "test_case_id", message, conflict=True)
                    continue
                # Good lines are staged even after bad ones: the database's checks below then
                # report their problems in the same round as the lines' own.
                batch.append(text)
                if len(batch) >= COPY_BATCH:
                    copy.write("".join(batch))
                    batch.clear()
            if batch:
                copy.write("".join(batch))
        if not seen and not errors.items:
            raise IngestError([{"line": 0, "field": "", "message": "no responses in the input"}])
        if len(seen) > 10_000:
            cursor.execute("ANALYZE runs_ingest_staging")
        _database_checks(cursor, run, errors, by_external_id=any(type(k) is str for k in seen))
        errors.raise_if_any()
        created = written = None
        if not Response.objects.filter(run=run).exists():
            try:
                with transaction.atomic():  # an executor may answer a case meanwhile
                    cursor.execute(INSERT_SQL, {"run": run.pk})
                    created = written = cursor.rowcount
            except IntegrityError:
                pass
        if written is None:
            if replace:
                delete_dependents(_stale_responses(run))
            cursor.execute(
                UPSERT_SQL.format(action=REPLACE_ACTION if replace else "NOTHING"),
                {"run": run.pk},
            )
            created, written = cursor.fetchone()
        ModelRun.objects.filter(pk=run.pk).recount()
        _complete_if_answered(run)
        record(actor, "responses.import", run, count=len(seen), created=created, replace=replace)
    # After commit: fresh statistics for the next page, and the run's summary told.
    wrote({"responses": written}, [run.pk], sender=ingest_responses)
    run.refresh_from_db()
    return IngestResult(
        imported=len(seen),
        created=created,
        replaced=written - created,
        skipped=len(seen) - written,
    )


def _database_checks(cursor, run: ModelRun, errors: LineErrors, *, by_external_id: bool) -> None:
    """What only the database can say about the staged lines, added to `errors`: unknown
    external_ids, a case named twice (by id and by external_id), cases outside the run."""
    if by_external_id:
        cursor.execute(RESOLVE_SQL)
        cursor.execute(UNKNOWN_SQL, {"limit": errors.room + 1})
        for line, external_id in cursor.fetchall():
            message = f"no case has the external_id {external_id!r}"
            errors.add(line, "external_id", message, conflict=True)
        cursor.execute(TWICE_SQL, {"limit": errors.room + 1})
        for line, case_id, first in cursor.fetchall():
            message = f"test case {case_id} already given on line {first}"
            errors.add(line, "external_id", message, conflict=True)
    cursor.execute(OUTSIDE_SQL, {"run": run.pk, "limit": errors.room + 1})
    for line, case_id, in_run, external_id in cursor.fetchall():
        field = "test_case_id" if external_id is None else "external_id"
        errors.add(
            line,
            field,
            f"test case {case_id} no longer exists"
            if in_run
            else f"test case {case_id} is not in this run's selection",
            conflict=True,
        )


def _complete_if_answered(run: ModelRun) -> None:
    """A run answered in full by pushed responses is completed (a running one is its executor's)."""
    ModelRun.objects.filter(
        pk=run.pk, total_cases=models.F("completed_cases") + models.F("failed_cases")
    ).exclude(status__in=[RunStatus.RUNNING, RunStatus.COMPLETED]).update(
        status=RunStatus.COMPLETED, completed_at=Now()
    )
