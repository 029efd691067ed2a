"""The comparison's per-case rows: one keyset page at a time, bounded at any run size
(:func:`comparison_case_page`), or the whole list regressions first (:func:`comparison_cases`),
and each run's output beside the expected answer (:func:`with_outputs`).

A page walks both runs' responses in case-id order through their (run, test case) index,
from the cursor on, over a window of at most :data:`SCAN_WINDOW` cases of each run: only
those cases' verdicts are paired, filtered by change kind and evaluator, and the first
``limit`` rows returned. A page reads the same few thousand index entries at a million
responses as at a thousand; the price is that a rare change kind (a few regressions among a
million pairs) may fill a page only after several windows: a short page then says how far it
looked (``scanned_through``) and its ``next_cursor`` continues from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from evaluations.reports.common import fetch
from evaluations.reports.pairs import (
    CHANGE_KINDS,
    COMPARISON_SETTINGS,
    pairs_cte,
    version_params,
)
from mleval_site.db_router import reading_from_replica
from mleval_site.pagination import decode_cursor, encode_cursor
from runs.models import ModelRun, Response

__all__ = [
    "SCAN_WINDOW",
    "CasePage",
    "comparison_case_page",
    "comparison_cases",
    "with_outputs",
]

#: The most cases of each run one page looks at (its time bound).
SCAN_WINDOW = 5000
_CURSOR_FIELDS = [models.BigIntegerField(), models.CharField(null=True)]

# The window's last case id: the SCAN_WINDOW-th case of either run from the first case on
# (whichever comes first; null when both runs have fewer left: the window runs to the end).
# Each an index-only walk of at most SCAN_WINDOW entries.
_WINDOW_SQL = """
SELECT least(
    (SELECT test_case_id FROM responses WHERE run_id = %(a)s AND test_case_id >= %(low)s
     ORDER BY test_case_id OFFSET %(window)s - 1 LIMIT 1),
    (SELECT test_case_id FROM responses WHERE run_id = %(b)s AND test_case_id >= %(low)s
     ORDER BY test_case_id OFFSET %(window)s - 1 LIMIT 1))
"""
# The window's pairs after the cursor, in (case, evaluator) order. The upper bound is a
# coalesce, not an OR, so that both bounds are conditions of the index scan.
_PAGE_SQL = (
    pairs_cte(
        "r.test_case_id >= %(low)s"
        " AND r.test_case_id <= coalesce(%(high)s::bigint, 9223372036854775807)"
    )
    + """
SELECT p.test_case_id, p.evaluator, p.a_passed, p.b_passed, p.a_score, p.b_score, p.change
FROM pairs p
WHERE NOT (p.test_case_id = %(after_case)s AND p.evaluator <= %(after_evaluator)s)
  AND (%(evaluator)s::text IS NULL OR p.evaluator = %(evaluator)s::text)
  AND (%(change)s::int IS NULL OR p.change = %(change)s::int)
ORDER BY p.test_case_id, p.evaluator
LIMIT %(limit)s
"""
)


@dataclass
class CasePage:
    """One page of the per-case list. ``next_cursor`` continues it (None: the list's end);
    ``scanned_through``: the last case id this page looked at, when it is short only because
    its window ended (None otherwise)."""

    rows: list[dict]
    next_cursor: str | None
    scanned_through: int | None


@reading_from_replica()
def comparison_case_page(
    run_a: ModelRun,
    run_b: ModelRun,
    *,
    change: str | None = None,
    evaluator: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> CasePage:
    """The verdict pairs after the cursor ``after`` (a :class:`CasePage`'s ``next_cursor``),
    by case id then evaluator, of one change kind (CHANGE_KINDS; None: all) and evaluator.
    Two statements whatever the runs' size. Raises ValueError for an unknown change and
    :class:`mleval_site.pagination.BadCursor` for a cursor this did not make."""
    if change is not None and change not in CHANGE_KINDS:
        raise ValueError(f"unknown change {change!r} (one of: {', '.join(CHANGE_KINDS)})")
    after_case, after_evaluator = decode_cursor(after, _CURSOR_FIELDS) if after else (0, None)
    # A cursor without an evaluator ends after its whole case (a window's last one).
    low = after_case if after_evaluator is not None else after_case + 1
    params = {"a": run_a.pk, "b": run_b.pk, "low": low, "window": SCAN_WINDOW}
    high = fetch(_WINDOW_SQL, params)[0][0]
    params.update(
        version_params(run_a, run_b),
        high=high,
        after_case=after_case,
        after_evaluator=after_evaluator or "",
        evaluator=evaluator or None,
        change=CHANGE_KINDS.index(change) if change else None,
        limit=limit + 1,
    )
    found = fetch(_PAGE_SQL, params, settings=COMPARISON_SETTINGS)
    rows = [
        {
            "test_case_id": test_case_id,
            "evaluator": evaluator_type,
            "a_passed": a_passed,
            "b_passed": b_passed,
            "a_score": a_score,
            "b_score": b_score,
            "change": CHANGE_KINDS[change_index],
        }
        for test_case_id, evaluator_type, a_passed, b_passed, a_score, b_score, change_index in (
            found[:limit]
        )
    ]
    if len(found) > limit:
        last = rows[-1]
        return CasePage(rows, encode_cursor([last["test_case_id"], last["evaluator"]]), None)
    if high is not None:
        return CasePage(rows, encode_cursor([high, None]), high)
    return CasePage(rows, None, None)


# The whole list in one statement, regressions first (the comparison JSON's `cases`): sorts
# every pair, so for small runs or a bounded `limit`; pages use comparison_case_page.
_COMPARISON_CASES_SQL = (
    pairs_cte()
    + """
SELECT p.test_case_id, p.evaluator, p.a_passed, p.b_passed, p.a_score, p.b_score, p.change
FROM pairs p
WHERE (%(evaluator)s::text IS NULL OR p.evaluator = %(evaluator)s::text)
  AND (%(change)s::int IS NULL OR p.change = %(change)s::int)
ORDER BY p.change, p.delta NULLS LAST, p.test_case_id, p.evaluator
LIMIT %(limit)s OFFSET %(offset)s
"""
)


@reading_from_replica()
def comparison_cases(
    run_a: ModelRun,
    run_b: ModelRun,
    *,
    evaluator: str | None = None,
    change: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict]:
    """Paired verdicts, regressions first (largest score drop first), then improvements,
    verdicts in one run only, both failed, both passed. ``change`` filters by CHANGE_KINDS."""
    if change is not None and change not in CHANGE_KINDS:
        raise ValueError(f"unknown change {change!r} (one of: {', '.join(CHANGE_KINDS)})")
    params = {
        "a": run_a.pk,
        "b": run_b.pk,
        **version_params(run_a, run_b),
        "evaluator": evaluator or None,
        "change": CHANGE_KINDS.index(change) if change else None,
        "limit": limit,
        "offset": offset,
    }
    return [
        {
            "test_case_id": test_case_id,
            "evaluator": evaluator_type,
            "a_passed": a_passed,
            "b_passed": b_passed,
            "a_score": a_score,
            "b_score": b_score,
            "change": CHANGE_KINDS[change_index],
        }
        for test_case_id, evaluator_type, a_passed, b_passed, a_score, b_score, change_index in (
            fetch(_COMPARISON_CASES_SQL, params, settings=COMPARISON_SETTINGS)
        )
    ]


@reading_from_replica()
def with_outputs(run_a: ModelRun, run_b: ModelRun, rows: list[dict]) -> list[dict]:
    """The per-case rows with each run's output (or call error) and the case's expected answer
    added (``a_output``, ``a_error``, ``b_output``, ``b_error``, ``expected``): one query for
    a page of rows (every row has a verdict, so a response, in at least one run)."""
    answers, expected = {}, {}
    for run_id, case_id, output, error, truth in Response.objects.filter(
        run_id__in=(run_a.pk, run_b.pk), test_case_id__in={row["test_case_id"] for row in rows}
    ).values_list(
        "run_id", "test_case_id", "output_data", "error_message", "test_case__ground_truth"
    ):
        answers[run_id, case_id] = (output, error)
        expected[case_id] = truth
    for row in rows:
        case_id = row["test_case_id"]
        for side, run in (("a", run_a), ("b", run_b)):
            row[f"{side}_output"], row[f"{side}_error"] = answers.get((run.pk, case_id), (None, ""))
        row["expected"] = expected.get(case_id)
    return rows
