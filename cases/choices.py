"""The values the case filters can offer: the known domains, categories, input and output
types (a <datalist> per field) and tag suggestions (htmx, as the user types).

Each query is bounded, so a list page stays cheap on millions of cases: model_type and
category are read with a loose index scan over their (field, id) indexes (one index probe per
distinct value); the unindexed types and the tags come from the newest SAMPLE_ROWS cases.
Known values are cached for CACHE_SECONDS.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection

from cases.models import TestCase

INDEXED = ("model_type", "category")
SAMPLED = ("input_type", "output_type")
FIELDS = INDEXED + SAMPLED
MAX_VALUES = 200
SAMPLE_ROWS = 50_000
TAG_SUGGESTIONS = 20
CACHE_SECONDS = 300
CACHE_KEY = "cases:known-values"

# One probe per distinct value: the next value after the previous one, through the index.
_LOOSE_SCAN = """
WITH RECURSIVE seen(value) AS (
    (SELECT {f} FROM {t} WHERE {f} <> '' ORDER BY {f} LIMIT 1)
    UNION ALL
    SELECT (SELECT {f} FROM {t} WHERE {f} > seen.value ORDER BY {f} LIMIT 1)
    FROM seen WHERE seen.value IS NOT NULL
)
SELECT value FROM seen WHERE value IS NOT NULL LIMIT %s"""
_SAMPLE = """
SELECT DISTINCT {f} FROM (SELECT {f} FROM {t} ORDER BY id DESC LIMIT %s) recent
WHERE {f} <> '' ORDER BY 1 LIMIT %s"""
_TAGS = """
SELECT tag FROM (SELECT tags FROM {t} ORDER BY id DESC LIMIT %s) recent, unnest(recent.tags) tag
WHERE tag LIKE %s ESCAPE '\\' GROUP BY tag ORDER BY count(*) DESC, tag LIMIT %s"""


def known_values() -> dict[str, list[str]]:
    """{field: its values in the database, sorted} for the case filters' datalists."""
    values = cache.get(CACHE_KEY)
    if values is None:
        table = TestCase._meta.db_table
        values = {}
        with connection.cursor() as cursor:
            for field in FIELDS:
                if field in INDEXED:
                    cursor.execute(_LOOSE_SCAN.format(f=field, t=table), [MAX_VALUES])
                else:
                    cursor.execute(_SAMPLE.format(f=field, t=table), [SAMPLE_ROWS, MAX_VALUES])
                values[field] = [row[0] for row in cursor.fetchall()]
        cache.set(CACHE_KEY, values, CACHE_SECONDS)
    return values


def tag_suggestions(typed: str) -> list[str]:
    """Completions of a comma-separated tag field: the tags starting with its last part (the
    most used first), each as the whole field's new value (`en, neg` -> `en, negation`)."""
    *done, last = typed.split(",")
    prefix = last.strip()
    head = ", ".join(part.strip() for part in done if part.strip())
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(
            _TAGS.format(t=TestCase._meta.db_table), [SAMPLE_ROWS, pattern, TAG_SUGGESTIONS]
        )
        tags = [row[0] for row in cursor.fetchall()]
    taken = {part.strip() for part in done}
    return [f"{head}, {tag}" if head else tag for tag in tags if tag not in taken]
