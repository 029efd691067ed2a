"""Paging that stays fast on tables of millions of rows: the pages' one paging module.

- Counts: exact up to a limit, the planner's estimate past it (`count_rows`).
- Page numbers (`EstimatedCountPaginator`): the run list, the audit trail, the admin's change
  lists and the report tables, where "page 3 of about 40" is what a reader wants.
- Keyset pages (`keyset_page`): the case list and the review queue, sorted several ways over a
  million cases. A page is "the next N rows after (value, id)" in the queryset's order, found
  through the index, never an OFFSET that reads and drops every row before it; the links are
  first / previous / next / last.

The API pages with DRF's cursor pagination (mleval_site.api), the same idea as keyset pages.
"""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.functional import cached_property

from mleval_site import jsonsafe

EXACT_COUNT_LIMIT = 10_000
# Keyset pages (the case list) count exactly only this far: small, so that an exact count never
# costs much more than the page's own rows; past it, "about N" from the planner.
KEYSET_COUNT_LIMIT = 1000
# An estimate this many times the limit is past any plausible error of stale statistics.
TRUST_ESTIMATE_FACTOR = 10


def capped_count(queryset, limit: int | None = None) -> int | None:
    """The exact row count when it is at most `limit`, else None (never scans further)."""
    limit = EXACT_COUNT_LIMIT if limit is None else limit
    n = queryset.order_by()[: limit + 1].count()
    return n if n <= limit else None


def estimated_count(queryset) -> int:
    """The planner's row estimate for this query: instant, within a few percent after ANALYZE."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(queryset, limit: int | None = None) -> tuple[int, bool]:
    """(count, is_estimate): exact for up to `limit` rows, the planner's estimate past it.

    The estimate comes first (one EXPLAIN) and is trusted only when it is far past the limit:
    then a big selection never pays for a capped count (which builds a whole GIN bitmap for a
    JSON or text filter). Anything nearer is counted exactly, capped at `limit` + 1 rows,
    because stale statistics can estimate thousands of rows for three.
    """
    limit = EXACT_COUNT_LIMIT if limit is None else limit
    try:
        estimate = estimated_count(queryset)
    except EmptyResultSet:  # .none(), or a filter that can match nothing
        return 0, False
    if estimate > TRUST_ESTIMATE_FACTOR * limit:
        return estimate, True
    exact = capped_count(queryset, limit=limit)
    if exact is not None:
        return exact, False
    return max(estimate, limit + 1), True


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is `count_rows`: `count_is_estimate` makes the page say "about"."""

    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        count, self.count_is_estimate = count_rows(self.object_list)
        return count


class BadCursor(ValueError):
    """A page link that does not decode (edited by hand, or from another sort order)."""


@dataclass
class KeysetPage:
    object_list: list
    per_page: int
    count: int
    count_is_estimate: bool
    next_cursor: str | None = None
    previous_cursor: str | None = None
    is_first: bool = True
    is_last: bool = True

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def has_other_pages(self) -> bool:
        return not (self.is_first and self.is_last)


def encode_cursor(values: list[Any]) -> str:
    text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: list) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = jsonsafe.decode(base64.urlsafe_b64decode(padded.encode()).decode())
        if not isinstance(values, list) or len(values) != len(fields):
            raise ValueError("wrong length")
        if reason := jsonsafe.unstorable(values):
            raise ValueError(f"it {reason}")
        return [f.to_python(value) for f, value in zip(fields, values, strict=True)]
    except (ValueError, TypeError, OverflowError, ValidationError) as error:
        message = f"This page link is not valid ({error}); start from the first page."
        raise BadCursor(message) from None


def _ordering(queryset: QuerySet) -> list[str]:
    """The queryset's order as field names with "-" for descending; id added as the tiebreak."""
    ordering = [str(o) for o in (queryset.query.order_by or queryset.model._meta.ordering)]
    if not ordering or ordering[-1].lstrip("-") not in ("id", "pk"):
        descending = ordering[0].startswith("-") if ordering else True
        ordering.append("-id" if descending else "id")
    directions = {o.startswith("-") for o in ordering}
    if len(directions) != 1:
        raise ValueError(f"keyset pages need one direction for every column, got {ordering}")
    return ordering


def keyset_page(
    queryset: QuerySet,
    *,
    per_page: int,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    count_limit: int | None = None,
    count: int | None = None,
    constant: Mapping[str, Any] | None = None,
) -> KeysetPage:
    """One page of `queryset` (ordered; id is the tiebreak) after or before a cursor, or the last.

    `constant` names sort columns the queryset's filter holds at one value (the evaluator under
    an evaluator filter): they are left out of the cursors and filled in from here, so a link
    means the same position with or without that filter (the query still compares every
    column, as its index is ordered).

    The count is exact up to `count_limit` (default KEYSET_COUNT_LIMIT), or `count` when the
    caller knows it (a run summary's failing verdicts: no count query). Raises BadCursor for a
    cursor that does not decode.
    """
    ordering = _ordering(queryset)
    names = [o.lstrip("-") for o in ordering]
    descending = ordering[0].startswith("-")
    try:
        fields = [queryset.model._meta.get_field("id" if n == "pk" else n) for n in names]
    except FieldDoesNotExist as error:
        raise ValueError(f"cannot page on {names}: {error}") from None
    constant = dict(constant or {})
    key = Tuple(*(F(name) for name in names))
    cursor_fields = [f for n, f in zip(names, fields, strict=True) if n not in constant]

    def position(cursor: str) -> list[Any]:
        values = iter(decode_cursor(cursor, cursor_fields))
        return [constant[n] if n in constant else next(values) for n in names]

    ordered = queryset.order_by(*ordering)
    reversed_order = [name if descending else f"-{name}" for name in names]

    limit = KEYSET_COUNT_LIMIT if count_limit is None else count_limit
    if count is None:
        count, count_is_estimate = count_rows(queryset, limit=limit)
    else:
        count_is_estimate = False

    if before or last:
        rows = queryset.order_by(*reversed_order)
        if before:
            values = position(before)
            lookup = TupleGreaterThan if descending else TupleLessThan
            rows = rows.filter(lookup(key, values))
        rows = list(rows[: per_page + 1])
        more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        is_first, is_last = not more, not before
    else:
        rows = ordered
        if after:
            values = position(after)
            lookup = TupleLessThan if descending else TupleGreaterThan
            rows = rows.filter(lookup(key, values))
        rows = list(rows[: per_page + 1])
        more = len(rows) > per_page
        rows = rows[:per_page]
        is_first, is_last = not after, not more

    def cursor_of(row) -> str:
        return encode_cursor([getattr(row, name) for name in names if name not in constant])

    return KeysetPage(
        object_list=rows,
        per_page=per_page,
        count=count,
        count_is_estimate=count_is_estimate,
        next_cursor=cursor_of(rows[-1]) if rows and not is_last else None,
        previous_cursor=cursor_of(rows[0]) if rows and not is_first else None,
        is_first=is_first,
        is_last=is_last,
    )
