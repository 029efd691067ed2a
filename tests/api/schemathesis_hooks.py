"""What schemathesis needs to know beyond the schema: how to make a valid page cursor, and the
one rule of a case body JSON Schema cannot state (a bounding box's x2 >= x1, y2 >= y1).

A cursor is an opaque token the API hands out in `next`/`previous` (schema format "cursor");
any other string is a 400. Valid ones without a position (first page, forwards or backwards,
an offset) are made here, so generated requests use cursors the API accepts.

For the CLI: SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks st run ... (docs/api.md).
"""

import base64
from urllib.parse import urlencode

import schemathesis
from django.db.models import BigIntegerField, FloatField
from hypothesis import strategies as st

from mleval_site.pagination import BadCursor, decode_cursor, encode_cursor


def _cursor(offset: int, reverse: bool) -> str:
    tokens = {"o": offset} if offset else {}
    if reverse:
        tokens["r"] = 1
    return base64.b64encode(urlencode(tokens).encode("ascii")).decode("ascii")


CURSORS = st.builds(_cursor, st.integers(min_value=0, max_value=50), st.booleans())
schemathesis.openapi.format("cursor", CURSORS)


VALID_CURSORS = {_cursor(offset, reverse) for offset in range(51) for reverse in (False, True)}


@schemathesis.hook
def filter_query(ctx, query) -> bool:
    """Only cursors made above (or none, or ""): schemathesis' coverage phase fills a "cursor"
    string with arbitrary text, which the API rightly answers 400 "Invalid cursor". (Values of
    other types are negative cases: kept, and answered 400.)"""
    query = query or {}
    cursor = query.get("cursor")
    if isinstance(cursor, str) and cursor not in ("", *VALID_CURSORS):
        return False
    # The failing verdicts' links hold (score, id), with or without an evaluator filter.
    links = [query.get(name) for name in ("after", "before")]
    return all(not isinstance(link, str) or link == "" or _valid_keyset(link) for link in links)


# Keyset page links (format "keyset-cursor"): the failing verdicts' (score, id), the same
# under an evaluator filter (which holds the evaluator constant: it is not in the link).
SCORES = st.floats(min_value=0, max_value=1, allow_nan=False)
IDS = st.integers(min_value=1, max_value=10**9)
KEYSET_CURSORS = st.builds(lambda score, pk: encode_cursor([score, pk]), SCORES, IDS)
schemathesis.openapi.format("keyset-cursor", KEYSET_CURSORS)


def _valid_keyset(link: str) -> bool:
    try:
        decode_cursor(link, [FloatField(), BigIntegerField()])
    except BadCursor:
        return False
    return True


def _inverted_box(box) -> bool:
    bbox = box.get("bbox") if isinstance(box, dict) else None
    if not isinstance(bbox, list) or len(bbox) != 4:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
        return False
    return bbox[2] < bbox[0] or bbox[3] < bbox[1]


def _has_inverted_box(value) -> bool:
    """A case (or a list of them) whose ground_truth has a box with x2 < x1 or y2 < y1."""
    if isinstance(value, list):
        return any(_has_inverted_box(item) for item in value)
    if not isinstance(value, dict):
        return False
    truth = value.get("ground_truth")
    boxes = truth.get("boxes") if isinstance(truth, dict) else truth
    return isinstance(boxes, list) and any(_inverted_box(box) for box in boxes)


@schemathesis.hook
def filter_body(ctx, body) -> bool:
    """Leave out case bodies with an inverted bounding box: the API refuses them (400 naming
    ground_truth, as docs/api.md says), and JSON Schema cannot relate two items of an array."""
    return not _has_inverted_box(body)
