"""Responses pushed into a run: the one path for `import_responses`, the page upload and the API.

Every line is checked in Python (it must be read anyway) and streamed with `COPY` into a staging
table; PostgreSQL then checks every case against the run's fixed case set and writes them all
with one `INSERT ... ON CONFLICT` upsert on (run, test case). It is all one transaction: any
bad line means nothing is written, and the run's counts are recounted before it commits.

Every line is checked, and every problem is reported at once, line-ordered (up to MAX_ERRORS):
the good lines of a file with bad ones still go to the staging table, so the database's checks
(a case outside the run, an unknown external_id) are reported with the lines' own problems, not
in a second round after they are fixed.

A response line (INTERFACES.md): {"test_case_id": 17, "output_data": {...}, "latency_ms": 12.4,
"memory_mb": 80.5, "tokens_used": 31, "error_message": null}; test_case_id (or the case's
external_id instead) and output_data required, output_data any JSON value (null included),
latency_ms a non-negative number (decimals kept).
"""

import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Now

from accounts.audit import record
from jobs.signals import wrote
from mleval_site import jsonsafe
from runs.models import ModelRun, Response, RunStatus

MAX_ERRORS = 10_000  # reported in full (the page offers them as CSV); past this, "more"
FIELDS = (
    "test_case_id",
    "external_id",
    "output_data",
    "latency_ms",
    "memory_mb",
    "tokens_used",
    "error_message",
)
# Keys a response read back from the API carries; ignored on the way in, so output round-trips.
IGNORED_FIELDS = frozenset({"id", "run", "run_id", "created_at"})
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
FLOAT_MAX = sys.float_info.max
COPY_BATCH = 2000


class IngestError(ValueError):
    """Bad input; nothing was written. `errors`: [{"line", "field", "message"}], line-ordered.

    "line" is the 1-based line of a JSONL input, or the 0-based index of a parsed list.
    """

    def __init__(self, errors: list[dict], *, more: bool = False) -> None:
        self.errors = errors
        self.more = more
        shown = "; ".join(describe(e) for e in errors[:5])
        extra = len(errors) - 5
        tail = f" (and {extra}{'+' if more else ''} more)" if extra > 0 or more else ""
        super().__init__(f"{shown}{tail}; nothing was imported")


def describe(error: dict) -> str:
    """One error as a sentence: "line 3, latency_ms: must be ..."."""
    where = f"line {error['line']}" + (f", {error['field']}" if error["field"] else "")
    return f"{where}: {error['message']}"


@dataclass(frozen=True)
class IngestResult:
    imported: int  # lines accepted
    created: int  # new responses
    replaced: int  # responses that existed and were replaced
    skipped: int = 0  # responses that existed and were kept (replace=False)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict] = []
        self.more = False

    def add(self, line: int, field: str, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"line": line, "field": field, "message": message})
        else:
            self.more = True

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    @property
    def room(self) -> int:
        return MAX_ERRORS - len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise IngestError(sorted(self.items, key=lambda e: e["line"]), more=self.more)


def _copy_text(value: str) -> str:
    """A value escaped for COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _number(value, *, integer: bool, limit: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and (
        not math.isfinite(value) or (integer and not value.is_integer())
    ):
        return False
    return 0 <= value <= limit


_decode = jsonsafe.decode
KNOWN_FIELDS = frozenset(FIELDS) | IGNORED_FIELDS


def _measure(value, limit: float) -> str | None:
    """A valid measurement as COPY text ("\\N" for null), or None: the slow path will say why."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is int and 0 <= value <= limit:
        return str(value)
    if kind is float and limit == FLOAT_MAX and 0 <= value <= limit:
        return repr(value)
    return None


def _fast_row(line: int, doc, raw: str) -> tuple[int, str] | None:
    """The common, well-formed line, checked with as little work as possible (None: go slow)."""
    if type(doc) is not dict or not doc.keys() <= KNOWN_FIELDS or "output_data" not in doc:
        return None
    case_id, message = doc.get("test_case_id"), doc.get("error_message")
    if type(case_id) is not int or not 0 < case_id <= BIGINT_MAX or "external_id" in doc:
        return None
    latency = _measure(doc.get("latency_ms"), FLOAT_MAX)
    memory = _measure(doc.get("memory_mb"), FLOAT_MAX)
    tokens = _measure(doc.get("tokens_used"), INT_MAX)
    if latency is None or memory is None or tokens is None:
        return None
    if message is None:
        message = "\\N"
    elif type(message) is str:
        message = _copy_text(message)
    else:
        return None
    return (
        case_id,
        f"{line}\t{case_id}\t\\N\t{latency}\t{memory}\t{tokens}\t{message}\t{_copy_text(raw)}\n",
    )


def _row(line: int, item, errors: _Errors) -> tuple[int | str, str] | None:
    """One checked input item → (test_case_id or external_id, COPY row), or None after recording
    its errors."""
    if type(item) is bytes:
        try:
            item = item.decode()
        except UnicodeDecodeError:
            pass  # said below
    if type(item) is str:
        raw = item.strip()
        if raw and raw[0] == "{" and not jsonsafe.suspect(raw):
            try:
                doc = _decode(raw)
            except ValueError:
                pass
            else:
                if row := _fast_row(line, doc, raw):
                    return row
    return _checked_row(line, item, errors)


def _problem(doc) -> tuple[str, str]:
    """(field, message) of what jsonsafe refuses in a response: the top-level field it is in."""
    where, reason = jsonsafe.problem_at(doc)
    return where.partition(".")[0], reason


def _checked_row(line: int, item, errors: _Errors) -> tuple[int | str, str] | None:
    """Every check, each failure recorded with its line and field."""
    raw = None
    if isinstance(item, bytes | bytearray):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError as error:
            errors.add(line, "", f"not UTF-8 text ({error.reason} at byte {error.start})")
            return None
    if isinstance(item, str):
        raw = item.strip().removeprefix("\ufeff")  # a byte-order mark opens some files
        if not raw:
            return None
        try:
            doc = _decode(raw)
        except ValueError as error:
            errors.add(line, "", f"not valid JSON: {error}")
            return None
        if jsonsafe.suspect(raw) and jsonsafe.unstorable(doc):
            errors.add(line, *_problem(doc))
            return None
    else:
        doc = item
    if not isinstance(doc, dict):
        errors.add(line, "", "a response must be a JSON object")
        return None
    ok = True
    unknown = sorted(set(doc) - set(FIELDS) - IGNORED_FIELDS)
    for name in unknown:
        errors.add(line, name, f"unknown field; expected some of {', '.join(FIELDS)}")
        ok = False
    case_id, external_id = doc.get("test_case_id"), doc.get("external_id")
    if type(external_id) is int and not isinstance(external_id, bool):
        external_id = str(external_id)  # the import stores an integer external_id as its digits
    if "test_case_id" in doc and "external_id" in doc:
        errors.add(line, "external_id", "give test_case_id or external_id, not both")
        ok = False
    elif "external_id" in doc:
        if type(external_id) is not str or not external_id:
            errors.add(line, "external_id", f"must be a non-empty string, not {external_id!r}")
            ok = False
    elif "test_case_id" not in doc:
        errors.add(line, "test_case_id", "required (or the case's external_id)")
        ok = False
    elif not _number(case_id, integer=True, limit=BIGINT_MAX) or case_id == 0:
        errors.add(line, "test_case_id", f"must be a positive integer id, not {case_id!r}")
        ok = False
    if "output_data" not in doc:
        errors.add(line, "output_data", "required (any JSON value; null when the model gave none)")
        ok = False
    columns = []
    for field, integer, limit in (
        ("latency_ms", False, FLOAT_MAX),
        ("memory_mb", False, FLOAT_MAX),
        ("tokens_used", True, INT_MAX),
    ):
        value = doc.get(field)
        if value is None:
            columns.append("\\N")
        elif _number(value, integer=integer, limit=limit):
            columns.append(str(int(value)) if integer else repr(float(value)))
        else:
            kind = "integer" if integer else "number"
            errors.add(line, field, f"must be a non-negative {kind} or null, not {value!r}")
            ok = False
    message = doc.get("error_message")
    if message is not None and not isinstance(message, str):
        errors.add(line, "error_message", f"must be a string or null, not {message!r}")
        ok = False
    if not ok:
        return None
    if raw is None:  # a parsed object: serialise it once, the way PostgreSQL will store it
        if jsonsafe.unstorable(doc):
            errors.add(line, *_problem(doc))
            return None
        try:
            raw = json.dumps(doc, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            errors.add(line, "output_data", f"not JSON-serialisable: {error}")
            return None
    error_text = "\\N" if message is None else _copy_text(message)
    if external_id is not None:
        key, id_columns = external_id, f"\\N\t{_copy_text(external_id)}"
    else:
        key = int(case_id)
        id_columns = f"{key}\t\\N"
    return key, (
        f"{line}\t{id_columns}\t{columns[0]}\t{columns[1]}\t{columns[2]}\t{error_text}\t"
        f"{_copy_text(raw)}\n"
    )


def _items(items: Iterable) -> Iterable[tuple[int, object]]:
    """Number the input: JSONL lines from 1, parsed objects (an API list) by index from 0."""
    iterator = iter(items)
    for first in iterator:
        start = 1 if isinstance(first, str | bytes | bytearray) else 0
        yield start, first
        yield from enumerate(iterator, start=start + 1)


def _dependent_tables() -> list[tuple[str, str]]:
    """Tables whose rows die with a response (evaluations): their verdicts judged the old answer."""
    return [
        (rel.related_model._meta.db_table, rel.field.column)
        for rel in Response._meta.related_objects
        if rel.on_delete is models.CASCADE
    ]


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
DELETE FROM {table} WHERE {column} IN (
    SELECT r.id FROM responses AS r
    JOIN runs_ingest_staging AS s ON s.test_case_id = r.test_case_id
    WHERE r.run_id = %(run)s
      AND (r.output_data IS DISTINCT FROM (s.raw::jsonb -> 'output_data')
           OR r.error_message IS DISTINCT FROM coalesce(s.error_message, ''))
)
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
    errors = _Errors()
    seen: dict[int | str, int] = {}  # test_case_id or external_id -> its first line
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STAGING_SQL)
        with cursor.copy(
            "COPY runs_ingest_staging (line, test_case_id, external_id, latency_ms, memory_mb, "
            "tokens_used, error_message, raw) FROM STDIN"
        ) as copy:
            batch: list[str] = []
            for number, item in _items(items):
                row = _row(number, item, errors)
                if row is None:
                    if errors.full:
                        errors.more = True
                        break
                    continue
                key, text = row
                if (first := seen.setdefault(key, number)) != number:
                    if type(key) is str:
                        errors.add(number, "external_id", f"{key!r} already given on line {first}")
                    else:
                        errors.add(
                            number, "test_case_id", f"test case {key} already given on line {first}"
                        )
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
                for table, column in _dependent_tables():
                    cursor.execute(
                        STALE_SQL.format(table=connection.ops.quote_name(table), column=column),
                        {"run": run.pk},
                    )
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


def _database_checks(cursor, run: ModelRun, errors: _Errors, *, by_external_id: bool) -> None:
    """What only the database can say about the staged lines, added to `errors`: unknown
    external_ids, a case named twice (by id and by external_id), cases outside the run."""
    if by_external_id:
        cursor.execute(RESOLVE_SQL)
        cursor.execute(UNKNOWN_SQL, {"limit": errors.room + 1})
        for line, external_id in cursor.fetchall():
            errors.add(line, "external_id", f"no case has the external_id {external_id!r}")
        cursor.execute(TWICE_SQL, {"limit": errors.room + 1})
        for line, case_id, first in cursor.fetchall():
            errors.add(line, "external_id", f"test case {case_id} already given on line {first}")
    cursor.execute(OUTSIDE_SQL, {"run": run.pk, "limit": errors.room + 1})
    for line, case_id, in_run, external_id in cursor.fetchall():
        field = "test_case_id" if external_id is None else "external_id"
        errors.add(
            line,
            field,
            f"test case {case_id} no longer exists"
            if in_run
            else f"test case {case_id} is not in this run's selection",
        )


def _complete_if_answered(run: ModelRun) -> None:
    """A run answered in full by pushed responses is completed (a running one is its executor's)."""
    ModelRun.objects.filter(
        pk=run.pk, total_cases=models.F("completed_cases") + models.F("failed_cases")
    ).exclude(status__in=[RunStatus.RUNNING, RunStatus.COMPLETED]).update(
        status=RunStatus.COMPLETED, completed_at=Now()
    )
