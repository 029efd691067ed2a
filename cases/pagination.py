"""Keyset pages: a page's cost does not depend on how deep it is or how big the table is.

A page is "the next N rows after (value, id)" in the queryset's order, found through the index,
never an OFFSET that reads and drops every row before it. The links are first / previous / next /
last; the total is exact up to a threshold and the planner's estimate past it.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from mleval_site import pagination as site_pagination

# Up to this many rows a page says exactly how many cases match; past it, "about N" from the
# planner. Small, so that an exact count never costs much more than the page's own rows.
EXACT_COUNT_LIMIT = 1000


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
    params: dict[str, str] = field(default_factory=dict)

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
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(fields):
            raise ValueError("wrong length")
        return [f.to_python(value) for f, value in zip(fields, values, strict=True)]
    except (ValueError, TypeError, ValidationError) as error:
        message = f"This page link is not valid ({error}); start from the first page."
        raise BadCursor(message) from None


def count_rows(queryset: QuerySet) -> tuple[int, bool]:
    """The case list's count: `mleval_site.pagination.count_rows` with the list's small limit."""
    return site_pagination.count_rows(queryset, limit=EXACT_COUNT_LIMIT)


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
) -> KeysetPage:
    """One page of `queryset` (ordered; id is the tiebreak) after or before a cursor, or the last.

    Raises BadCursor for a cursor that does not decode.
    """
    ordering = _ordering(queryset)
    names = [o.lstrip("-") for o in ordering]
    descending = ordering[0].startswith("-")
    try:
        fields = [queryset.model._meta.get_field("id" if n == "pk" else n) for n in names]
    except FieldDoesNotExist as error:
        raise ValueError(f"cannot page on {names}: {error}") from None
    key = Tuple(*(F(name) for name in names))
    ordered = queryset.order_by(*ordering)
    reversed_order = [name if descending else f"-{name}" for name in names]

    count, count_is_estimate = count_rows(queryset)

    if before or last:
        rows = queryset.order_by(*reversed_order)
        if before:
            values = decode_cursor(before, fields)
            lookup = TupleGreaterThan if descending else TupleLessThan
            rows = rows.filter(lookup(key, values))
        rows = list(rows[: per_page + 1])
        more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        is_first, is_last = not more, not before
    else:
        rows = ordered
        if after:
            values = decode_cursor(after, fields)
            lookup = TupleLessThan if descending else TupleGreaterThan
            rows = rows.filter(lookup(key, values))
        rows = list(rows[: per_page + 1])
        more = len(rows) > per_page
        rows = rows[:per_page]
        is_first, is_last = not after, not more

    def cursor_of(row) -> str:
        return encode_cursor([getattr(row, name) for name in names])

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
