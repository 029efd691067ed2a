"""What schemathesis needs to know beyond the schema: how to make a valid page cursor.

A cursor is an opaque token the API hands out in `next`/`previous` (schema format "cursor");
any other string is a 400. Valid ones without a position (first page, forwards or backwards,
an offset) are made here, so generated requests use cursors the API accepts.

For the CLI: SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks st run ... (docs/api.md).
"""

import base64
from urllib.parse import urlencode

import schemathesis
from hypothesis import strategies as st


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
    cursor = (query or {}).get("cursor")
    return not isinstance(cursor, str) or cursor in ("", *VALID_CURSORS)
