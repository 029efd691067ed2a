"""What a job does once its writes are committed: fresh statistics, then a word to listeners.

A bulk write that grows a table leaves PostgreSQL's planner statistics behind until
autovacuum gets there (right after importing 100,000 cases the planner expects 200 rows and
picks a bitmap scan of every row for the case list's first page). :func:`wrote` runs
``ANALYZE`` of the tables the job grew substantially, in the job, after commit, so the first
user after an import gets the plan the hundredth would. It then sends :data:`runs_changed`,
which the apps above listen to (the run summaries of ``evaluations`` queue their refresh):
this app imports none of them, so it names runs by id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from django.db import connection, transaction
from django.dispatch import Signal

logger = logging.getLogger("mleval.jobs")

#: Sent after a job's writes committed. ``run_ids``: the runs whose data the job changed, or
#: None when it may be any run (a case import changes the cases runs answered).
runs_changed = Signal()

#: A table grown by fewer rows than this keeps its statistics (autovacuum will do).
ANALYZE_MIN_ROWS = 1000


def analyze(tables: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def wrote(grown: Mapping[str, int], run_ids: Iterable[int] | None, *, sender: object) -> None:
    """A job wrote ``grown`` (rows per table) for ``run_ids``: after commit (now, outside a
    transaction), ANALYZE the tables grown by ANALYZE_MIN_ROWS rows or more, then send
    :data:`runs_changed`. A listener's failure is logged, never the job's."""
    ids = None if run_ids is None else sorted(set(run_ids))

    def after_commit() -> None:
        analyze(sorted(table for table, rows in grown.items() if rows >= ANALYZE_MIN_ROWS))
        for receiver, outcome in runs_changed.send_robust(sender=sender, run_ids=ids):
            if isinstance(outcome, Exception):
                logger.error("runs_changed: %s failed: %s", receiver, outcome)

    transaction.on_commit(after_commit)
