"""One response line checked and turned into a `COPY` row: the per-line half of
runs.ingestion.ingest_responses (the database's checks and the upsert are the other half).

A response line (INTERFACES.md): {"test_case_id": 17, "output_data": {...}, "latency_ms": 12.4,
"memory_mb": 80.5, "tokens_used": 31, "error_message": null}; test_case_id (or the case's
external_id instead) and output_data required, output_data any JSON value (null included),
latency_ms a non-negative number (decimals kept). The common well-formed line takes a fast path;
anything else goes through every check, each problem recorded with its line and field.
"""

import json
import math
import sys
from collections.abc import Iterable

from mleval_site import jsonsafe

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


class IngestError(ValueError):
    """Bad input; nothing was written. `errors`: [{"line", "field", "message"}], line-ordered.

    "line" is the 1-based line of a JSONL input, or the 0-based index of a parsed list.
    `conflict`: every error is about the data, not the lines' shape (a case not in the run,
    an unknown external_id, a case named twice): the API's 409, not a 400.
    """

    def __init__(self, errors: list[dict], *, more: bool = False, conflict: bool = False) -> None:
        self.errors = errors
        self.more = more
        self.conflict = conflict
        shown = "; ".join(describe(e) for e in errors[:5])
        extra = len(errors) - 5
        tail = f" (and {extra}{'+' if more else ''} more)" if extra > 0 or more else ""
        super().__init__(f"{shown}{tail}; nothing was imported")


def describe(error: dict) -> str:
    """One error as a sentence: "line 3, latency_ms: must be ..."."""
    where = f"line {error['line']}" + (f", {error['field']}" if error["field"] else "")
    return f"{where}: {error['message']}"


class LineErrors:
    """The problems found so far, each with its line and field; at most MAX_ERRORS kept."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.more = False
        self.malformed = False  # a line's shape is at fault, not only what it names

    def add(self, line: int, field: str, message: str, *, conflict: bool = False) -> None:
        """`conflict`: well-formed, but the data says no (a case outside the run, say)."""
        self.malformed = self.malformed or not conflict
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
            items = sorted(self.items, key=lambda e: e["line"])
            raise IngestError(items, more=self.more, conflict=not self.malformed)


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


def response_row(line: int, item, errors: LineErrors) -> tuple[int | str, str] | None:
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


def _checked_row(line: int, item, errors: LineErrors) -> tuple[int | str, str] | None:
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


def numbered_items(items: Iterable) -> Iterable[tuple[int, object]]:
    """Number the input: JSONL lines from 1, parsed objects (an API list) by index from 0."""
    iterator = iter(items)
    for first in iterator:
        start = 1 if isinstance(first, str | bytes | bytearray) else 0
        yield start, first
        yield from enumerate(iterator, start=start + 1)
