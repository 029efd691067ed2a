"""A chunk of a run's responses as the scorers read them: one query, jsonb decoded once.

A run on a golden-set version is scored against the version's content: the kept revision
when the case was edited since the freeze, one SQL fragment for every reader (other runs read
the cases as they are, without those joins). The pipeline reads (id, output, error, ground
truth, output type); the judging stage adds the case's input.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from cases.models import TestCase
from mleval_site import jsonsafe
from runs.models import Response

_FROM = f"""
    FROM {Response._meta.db_table} r JOIN {TestCase._meta.db_table} c ON c.id = r.test_case_id
"""
_PINNED_FROM = f"""{_FROM}
    LEFT JOIN version_cases vc ON vc.version_id = %(version)s AND vc.case_id = r.test_case_id
    LEFT JOIN case_revisions kr ON kr.case_id = vc.case_id AND kr.revision = vc.revision
"""


def _sql(columns: list[str], where: str, *, pinned: bool, distinct: bool = False) -> str:
    """SELECT ``columns`` of a run's responses (``r.``) and their cases (``c.``): for a run
    on a golden-set version, the cases' columns from the kept revisions. A run on no version
    reads its cases without the revision joins (whose plan hashed the whole case_revisions
    table for every chunk, though a null version matches none of it)."""
    if pinned:
        columns = [
            f"CASE WHEN kr.id IS NULL THEN {column} ELSE kr.{column[2:]} END"
            if column.startswith("c.")
            else column
            for column in columns
        ]
    select = "SELECT DISTINCT" if distinct else "SELECT"
    return f"{select} {', '.join(columns)} {_PINNED_FROM if pinned else _FROM} {where}"


_ROW = ["r.id", "r.output_data", "r.error_message", "c.ground_truth", "c.output_type"]
_WHERE = "WHERE r.run_id = %(run)s AND r.id BETWEEN %(low)s AND %(high)s"
# (pinned, inputs) -> the chunk's query
_CHUNK_SQL = {
    (pinned, inputs): _sql(_ROW + ["c.input_data"] * inputs, _WHERE, pinned=pinned)
    for pinned in (False, True)
    for inputs in (False, True)
}
_OUTPUT_TYPES_SQL = {
    pinned: _sql(["c.output_type"], "WHERE r.run_id = %(run)s", pinned=pinned, distinct=True)
    for pinned in (False, True)
}


def pinned_output_types(run_id: int, version_id: int | None) -> list[str]:
    """The output types of the cases the run has responses for: for a run on a golden-set
    version, the pinned revisions' (what the chunks are scored against), not today's."""
    with connection.cursor() as cursor:
        cursor.execute(
            _OUTPUT_TYPES_SQL[version_id is not None], {"run": run_id, "version": version_id}
        )
        return sorted(row[0] for row in cursor.fetchall())


loads = jsonsafe.loads_fast


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a chunk's pure-Python work (reading,
    rendering, scoring). The chunk's tens of thousands of long-lived rows, dicts and verdicts
    set off full collections that traverse the whole process several times per chunk, about
    a fifth of a re-score read from the judge cache; they make no reference cycles, and the
    collector runs again afterwards. Never around network calls."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def chunk_rows(run_id: int, id_range: tuple[int, int], *, inputs: bool = False) -> list[tuple]:
    """``(response_id, output_data, error_message, ground_truth, output_type[, input_data])``
    of the run's responses with ids in ``id_range`` (both ends included), decoded."""
    with collector_paused():
        with connection.cursor() as cursor:
            cursor.execute("SELECT version_id FROM model_runs WHERE id = %s", [run_id])
            version = (cursor.fetchone() or (None,))[0]
            cursor.execute(
                _CHUNK_SQL[version is not None, inputs],
                {"run": run_id, "version": version, "low": id_range[0], "high": id_range[1]},
            )
            rows = cursor.fetchall()
        # Django hands jsonb over as text (its JSONField decodes it); decode each document once.
        if inputs:
            return [
                (response_id, loads(output), error, loads(truth), output_type, loads(input_data))
                for response_id, output, error, truth, output_type, input_data in rows
            ]
        return [
            (response_id, loads(output), error, loads(truth), output_type)
            for response_id, output, error, truth, output_type in rows
        ]
