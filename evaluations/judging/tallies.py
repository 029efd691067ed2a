"""What the latest scoring read from the judge cache, chunk by chunk (``judging_tallies``).

A judged verdict's ``metrics.cached`` says what it was written from, and is left out of the
content the pipeline compares: re-scoring a run from the cache gives every verdict exactly
the content it had, so the pipeline leaves it unwritten (no new row version, no index
entries) and its flag says how it was first written. To count the latest scoring, each
chunk's judging stage counts its cache hits per evaluator (:class:`Tally`) and :func:`record`
keeps them in the transaction that writes the chunk's verdicts; the report's ``judging``
block sums them (:mod:`evaluations.reports.judging`). A chunk scored again (a resumed
worker, a re-score) replaces its row, and a row whose id range overlaps another chunk's
goes, so the rows always describe the latest scoring of each response once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import connection

from evaluations.evaluators.judge import JudgeReply
from evaluations.models import JudgingTally


@dataclass(slots=True)
class Tally:
    """One evaluator's cache hits in one chunk."""

    cached_verdicts: int = 0  # verdicts whose every judge call was read from the cache
    cached_calls: int = 0  # judge calls read from the cache instead of asked
    cached_cost: float | None = None  # what those calls cost when they were first asked

    def count(self, replies: Sequence[JudgeReply]) -> None:
        """Count one verdict's replies (one per repeat, or per judged assertion)."""
        cached = [reply for reply in replies if reply.cached]
        self.cached_calls += len(cached)
        self.cached_verdicts += bool(replies) and len(cached) == len(replies)
        for reply in cached:
            if reply.cost is not None:
                self.cached_cost = (self.cached_cost or 0.0) + reply.cost


_TABLE = JudgingTally._meta.db_table
# Rows of other chunks that overlap this one go (the run's chunks were cut differently
# before); this chunk's row is inserted, or updated only if a count changed (then the
# table's triggers move the run's data version: the stored report is recomputed).
_RECORD_SQL = f"""
WITH overlapping AS (
    DELETE FROM {_TABLE}
    WHERE run_id = %(run)s AND evaluator_type = ANY(%(names)s)
      AND first_response_id <= %(last)s AND last_response_id >= %(first)s
      AND first_response_id <> %(first)s
)
INSERT INTO {_TABLE} AS t
    (run_id, evaluator_type, first_response_id, last_response_id, cached_verdicts,
     cached_calls, cached_cost)
SELECT %(run)s, name, %(first)s, %(last)s, verdicts, calls, cost
FROM unnest(%(names)s::text[], %(verdicts)s::int[], %(calls)s::int[], %(costs)s::float8[])
    AS u(name, verdicts, calls, cost)
ON CONFLICT (run_id, evaluator_type, first_response_id) DO UPDATE SET
    last_response_id = EXCLUDED.last_response_id, cached_verdicts = EXCLUDED.cached_verdicts,
    cached_calls = EXCLUDED.cached_calls, cached_cost = EXCLUDED.cached_cost, scored_at = now()
WHERE (t.last_response_id, t.cached_verdicts, t.cached_calls, t.cached_cost)
    IS DISTINCT FROM (EXCLUDED.last_response_id, EXCLUDED.cached_verdicts,
                      EXCLUDED.cached_calls, EXCLUDED.cached_cost)
"""


def record(run_id: int, id_range: tuple[int, int], tallies: Mapping[str, Tally]) -> None:
    """Keep the chunk's tallies (one statement); call it where the chunk's verdicts are
    written, in their transaction."""
    if not tallies:
        return
    names = list(tallies)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "run": run_id,
                "first": id_range[0],
                "last": id_range[1],
                "names": names,
                "verdicts": [tallies[name].cached_verdicts for name in names],
                "calls": [tallies[name].cached_calls for name in names],
                "costs": [tallies[name].cached_cost for name in names],
            },
        )
