"""Every figure of the run report, the run comparison, the leaderboard and the case history.

One place computes each figure: the pages, ``run_report`` / ``compare_runs``, the JSON and CSV
downloads, the API and the run page's panel only render what these functions return.
Aggregates (counts, pass rates, means, histograms, percentiles, the confusion matrix,
breakdowns by slice) are SQL; :mod:`evaluations.stats` turns the aggregated counts into the
statistics (Wilson intervals, McNemar, bootstrap, Holm, the classification block). No request
objects here, so the API calls the same functions.

The modules, along the seams of ``tests/evaluations/reports/``:

- :mod:`.figures`: a run's own figures, one home each (pass rate per evaluator, latency
  percentiles, tokens, memory, errors); :func:`run_figures` ``(run) -> dict``.
- :mod:`.run_report`: :func:`build_run_report` ``(run) -> dict`` (INTERFACES.md "Run report
  JSON") and :func:`failing_evaluations`, its paginated table.
- :mod:`.comparison`: :func:`compare_runs` ``(run_a, run_b) -> dict`` (INTERFACES.md
  "Comparison JSON") and :func:`comparison_cases`, the JSON's ``cases`` (:func:`with_outputs`
  adds both runs' outputs and the expected answer to a page of rows).
- :mod:`.comparison_pages`: :func:`comparison_case_page`, the per-case table and API list,
  keyset pages bounded at any run size.
- :mod:`.leaderboard`: :func:`build_leaderboard` ``(model_type=None, evaluator=None)``.
- :mod:`.case_history`: :func:`case_history` ``(case_id) -> list[dict]``.
- :mod:`.common`: the cursor, rates, the ``run`` block, the slice dimensions.

With DATABASE_REPLICA_URL set, the public functions read from the read replica
(``mleval_site.db_router.reading_from_replica``): reports are the heavy reads, and a report a
few seconds behind the primary is still the report. :mod:`.figures` reads wherever its caller
does (the run page's panel reads the primary, right after scoring).

The SQL names the tables of DATA_MODEL.md (``evaluations``, ``responses``, ``test_cases``)
because they are a documented contract; every value goes in as a query parameter.
"""

from evaluations.reports.case_history import case_history
from evaluations.reports.common import (
    DOMAIN_EVALUATORS,
    SLICE_DIMENSIONS,
    run_summary,
    selection_label,
)
from evaluations.reports.comparison import compare_runs
from evaluations.reports.comparison_pages import (
    CasePage,
    comparison_case_page,
    comparison_cases,
    with_outputs,
)
from evaluations.reports.figures import response_figures, run_figures, verdict_figures
from evaluations.reports.leaderboard import build_leaderboard
from evaluations.reports.pairs import CHANGE_KINDS
from evaluations.reports.run_report import (
    build_run_report,
    failing_cursor_constant,
    failing_evaluations,
)

__all__ = [
    "CHANGE_KINDS",
    "CasePage",
    "DOMAIN_EVALUATORS",
    "SLICE_DIMENSIONS",
    "build_leaderboard",
    "build_run_report",
    "case_history",
    "compare_runs",
    "comparison_case_page",
    "comparison_cases",
    "with_outputs",
    "failing_cursor_constant",
    "failing_evaluations",
    "response_figures",
    "run_figures",
    "run_summary",
    "selection_label",
    "verdict_figures",
]
