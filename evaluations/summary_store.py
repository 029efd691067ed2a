"""Run summaries, stored: the versions a summary is current for, computing and storing one,
and queueing its refresh for the worker (evaluations.summaries reads them).

PostgreSQL triggers (migration 0004) keep a per-run *data version* (``run_data_versions``) that
every statement writing a run's responses, their verdicts, their cases or its case set moves, and
a *case-set version* that every write to ``test_cases`` moves. A summary
(:class:`~evaluations.models.RunSummary`) stores :func:`~evaluations.reports.run_report.
report_figures` with the data version it was computed from, and the drift with the case-set
version; a stored figure is *current* only while its version is the run's version now. The
versions are read *before* the figures are computed: a write that commits after that moves the
version past the one stored, so a summary can be late, never wrong while it says it is current.

The write paths' jobs (execution, response import, scoring, case import) call
:func:`request_refresh` at their end (through ``jobs.signals.runs_changed``): the worker
recomputes while nobody waits. A write of a few verdicts outside the jobs (a human grade, an
edit by hand) calls :func:`verdicts_changed`, the one hook for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.tasks import task

from evaluations.models import RunSummary
from evaluations.reports.run_report import report_figures, selection_drift_block
from runs.models import ModelRun

FRESH, COMPUTING, STALE = "fresh", "computing", "stale"
#: A queued refresh not done after this long (a worker lost) may be queued again.
REQUEUE_AFTER_SECONDS = 600


def dump_figures(value: Any) -> str:
    """Figures as stored JSON text; NaN kept (allow_nan), as the reports may hold it."""
    return json.dumps(value, allow_nan=True)


# --- versions ------------------------------------------------------------------------------


def data_versions(run_ids: Iterable[int]) -> dict[int, int]:
    """Each run's data version now (0 for a run nothing was written to since the triggers)."""
    return {run_id: version for run_id, (version, _) in _versions(run_ids).items()}


def _versions(run_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Per run: its data version and the case-set version, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.id, coalesce(v.version, 0), "
            "(SELECT coalesce(max(version), 0) FROM case_set_version) "
            "FROM unnest(%s::bigint[]) AS u(id) "
            "LEFT JOIN run_data_versions v ON v.run_id = u.id",
            [list(run_ids)],
        )
        return {run_id: (version, cases) for run_id, version, cases in cursor.fetchall()}


def case_set_version() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(version), 0) FROM case_set_version")
        return cursor.fetchone()[0]


def stored_summaries(run_ids: Iterable[int]) -> dict[int, tuple[RunSummary | None, int, int]]:
    """Per run: its stored summary (None if never computed), data version and case-set
    version, in one query."""
    ids = list(run_ids)
    rows = RunSummary.objects.raw(
        "SELECT u.id AS run_id, s.version, s.cases_version, s.figures, s.drift, s.computed_at, "
        "s.pass_rate, s.pass_rate_evaluator, s.latency_p95, s.requested_version, "
        "s.requested_cases_version, s.requested_at, s.run_id IS NOT NULL AS stored, "
        "coalesce(v.version, 0) AS data_version, "
        "(SELECT coalesce(max(version), 0) FROM case_set_version) AS case_set_version "
        "FROM unnest(%s::bigint[]) AS u(id) "
        "LEFT JOIN run_data_versions v ON v.run_id = u.id "
        "LEFT JOIN run_summaries s ON s.run_id = u.id",
        [ids],
    )
    return {
        row.run_id: (
            row if row.stored and row.figures else None,
            row.data_version,
            row.case_set_version,
        )
        for row in rows
    }


def summary_state(summary: RunSummary | None, version: int, cases_version: int) -> str:
    if summary is None or not summary.figures:
        return STALE
    if summary.version == version and summary.cases_version == cases_version:
        return FRESH
    if summary.requested_version == version and summary.requested_cases_version == cases_version:
        return COMPUTING
    return STALE


def status_block(summary: RunSummary | None, state: str, version: int) -> dict:
    """The ``summary`` block every summary-backed answer carries."""
    return {
        "state": state,
        "version": summary.version if summary else None,
        "data_version": version,
        "computed_at": summary.computed_at.isoformat() if summary and summary.computed_at else None,
    }


# --- computing -----------------------------------------------------------------------------


def headline(figures: dict) -> tuple[str, float | None, float | None]:
    """The run list's columns: the evaluator with the most verdicts (ties: by name), its pass
    rate, and the latency p95."""
    evaluators = figures["evaluators"]
    name = min(evaluators, key=lambda e: (-evaluators[e]["count"], e), default="")
    rate = evaluators[name]["pass_rate"] if name else None
    return name, rate, figures["latency_ms"]["p95"]


_STORE_SQL = """
INSERT INTO run_summaries AS s (run_id, version, cases_version, figures, drift, computed_at,
                                pass_rate, pass_rate_evaluator, latency_p95)
VALUES (%(run)s, %(version)s, %(cases_version)s, %(figures)s, %(drift)s, now(),
        %(pass_rate)s, %(evaluator)s, %(p95)s)
ON CONFLICT (run_id) DO UPDATE
SET version = EXCLUDED.version, cases_version = EXCLUDED.cases_version,
    figures = EXCLUDED.figures, drift = EXCLUDED.drift, computed_at = EXCLUDED.computed_at,
    pass_rate = EXCLUDED.pass_rate, pass_rate_evaluator = EXCLUDED.pass_rate_evaluator,
    latency_p95 = EXCLUDED.latency_p95
WHERE (coalesce(s.version, -1), coalesce(s.cases_version, -1))
      <= (EXCLUDED.version, EXCLUDED.cases_version)
RETURNING s.requested_version, s.requested_cases_version, s.requested_at, s.computed_at
"""


def compute_summary(run: ModelRun, versions: tuple[int, int] | None = None) -> RunSummary:
    """Compute the run's figures and drift from the primary and store them with the versions
    read first (``versions``: the run's data version and the case-set version, if the caller
    just read them); a newer stored summary is kept. The report's own five to nine queries,
    and one to store."""
    version, cases_version = versions or _versions([run.pk])[run.pk]
    figures = report_figures(run)
    drift = selection_drift_block(run)
    evaluator, pass_rate, p95 = headline(figures)
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            {
                "run": run.pk,
                "version": version,
                "cases_version": cases_version,
                "figures": dump_figures(figures),
                "drift": dump_figures(drift),
                "pass_rate": pass_rate,
                "evaluator": evaluator,
                "p95": p95,
            },
        )
        stored = cursor.fetchone()
    if stored is None:  # a newer summary was stored meanwhile
        return RunSummary.objects.get(pk=run.pk)
    requested_version, requested_cases_version, requested_at, computed_at = stored
    return RunSummary(
        run_id=run.pk,
        version=version,
        cases_version=cases_version,
        figures=dump_figures(figures),
        drift=dump_figures(drift),
        computed_at=computed_at,
        pass_rate=pass_rate,
        pass_rate_evaluator=evaluator,
        latency_p95=p95,
        requested_version=requested_version,
        requested_cases_version=requested_cases_version,
        requested_at=requested_at,
    )


@task()
def refresh_summaries_task(run_ids: list[int]) -> dict:
    """Recompute the summaries of these runs that are not current (queued by
    :func:`request_refresh`); a run deleted meanwhile is skipped."""
    computed, fresh = [], []
    stored = stored_summaries(run_ids)
    for run in ModelRun.objects.filter(pk__in=run_ids).order_by("pk"):
        summary, version, cases_version = stored[run.pk]
        if summary_state(summary, version, cases_version) == FRESH:
            fresh.append(run.pk)
            continue
        # The versions now, not at the batch's start: a run written meanwhile is computed
        # from its newer data (and says so).
        computed.append(compute_summary(run).run_id)
    # Written to while being computed (grades coming in, say): one more refresh, queued now,
    # since the throttled requests made meanwhile (views, verdicts_changed) waited for this one.
    behind = stale_run_ids(computed) if computed else []
    return {"computed": computed, "fresh": fresh, "queued_again": request_refresh(behind)}


_REQUEST_SQL = """
INSERT INTO run_summaries AS s (run_id, requested_version, requested_cases_version, requested_at)
SELECT u.id, coalesce(v.version, 0),
       (SELECT coalesce(max(version), 0) FROM case_set_version), now()
FROM unnest(%(runs)s::bigint[]) AS u(id)
JOIN model_runs mr ON mr.id = u.id
LEFT JOIN run_data_versions v ON v.run_id = u.id
ORDER BY u.id
ON CONFLICT (run_id) DO UPDATE
SET requested_version = EXCLUDED.requested_version,
    requested_cases_version = EXCLUDED.requested_cases_version,
    requested_at = EXCLUDED.requested_at
WHERE (s.version IS DISTINCT FROM EXCLUDED.requested_version
       OR s.cases_version IS DISTINCT FROM EXCLUDED.requested_cases_version)
  AND (s.requested_version IS DISTINCT FROM EXCLUDED.requested_version
       OR s.requested_cases_version IS DISTINCT FROM EXCLUDED.requested_cases_version
       OR s.requested_at < now() - make_interval(secs => %(requeue)s))
  -- A view waits for a refresh still pending (queued for a newer version than stored): a
  -- report viewed while its run executes queues one recomputation at a time, not one per view.
  AND (NOT %(throttle)s OR s.requested_version IS NULL
       OR s.requested_version <= coalesce(s.version, -1)
       OR s.requested_at < now() - make_interval(secs => %(requeue)s))
RETURNING s.run_id
"""


def request_refresh(run_ids: Iterable[int], *, throttle: bool = False) -> list[int]:
    """Queue a refresh of each run whose summary is not current and not already queued for
    its current versions; the runs queued. ``throttle`` (the views): not while a refresh
    queued earlier is still pending (the write paths' jobs always queue theirs). One
    statement, plus one task for the runs queued."""
    ids = sorted(set(run_ids))
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _REQUEST_SQL, {"runs": ids, "requeue": REQUEUE_AFTER_SECONDS, "throttle": throttle}
        )
        queued = sorted(row[0] for row in cursor.fetchall())
    # One task for them all (a leaderboard's first view queues its runs at once); a task that
    # fails to queue is queued again by a view after REQUEUE_AFTER_SECONDS.
    if queued:
        refresh_summaries_task.enqueue(queued)
    return queued


def on_runs_changed(sender: object, run_ids: list[int] | None, **kwargs: Any) -> None:
    """``jobs.signals.runs_changed``: queue the refresh of the runs a job wrote to (of every
    summarized run behind its data for a case import)."""
    request_refresh(stale_run_ids() if run_ids is None else run_ids)


def verdicts_changed(run_ids: Iterable[int]) -> None:
    """The hook for writes of a few verdicts outside the jobs: a human grade (``grading``
    writes the graders' verdict as an evaluation ``human``), a verdict fixed by hand.

    Nothing else is needed for correctness: the triggers on ``evaluations`` have already moved
    the runs' data versions, so no figure is served as current after the write (the report
    says "updating…" with the last figures). This queues, after the caller's transaction
    commits, the refresh that makes the worker recompute before the next view asks. Throttled
    like a view's request: while a refresh is pending, a burst of grades queues nothing more,
    and that refresh queues one more when it finishes behind the data
    (:func:`refresh_summaries_task`), so a run being graded is recomputed back to back, never
    once per grade.
    """
    ids = sorted(set(run_ids))
    if ids:
        transaction.on_commit(lambda: request_refresh(ids, throttle=True))


def stale_run_ids(run_ids: Iterable[int] | None = None) -> list[int]:
    """Runs whose stored figures are behind their data (a case import's end refreshes them);
    only among ``run_ids`` when given."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.run_id FROM run_data_versions v "
            "JOIN run_summaries s ON s.run_id = v.run_id AND s.figures <> '' "
            "WHERE s.version IS DISTINCT FROM v.version "
            "AND (%(ids)s::bigint[] IS NULL OR v.run_id = ANY(%(ids)s::bigint[])) "
            "ORDER BY v.run_id",
            {"ids": None if run_ids is None else list(run_ids)},
        )
        return [row[0] for row in cursor.fetchall()]
