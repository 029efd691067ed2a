"""The run report's ``trials`` block: a case executed k times (repeated trials), per evaluator.

A run registered with ``"trials": k`` in its config is one of k sibling runs of a trial group
(runs.trials): the same cases, endpoint and config, each with one response per case, as the
schema wants. This block reads every sibling's verdicts in one statement, grouped by evaluator
and case, and gives per evaluator, over the cases with a verdict in every trial:

- ``pass_at_k``: the share of cases that passed in at least one of the k trials, and
  ``pass_all_k`` (pass^k) the share that passed in all k;
- ``pass_at`` / ``pass_all``: the same for j = 1 ... k trials, with the unbiased estimators
  over each case's k verdicts of which c passed: pass@j = 1 − C(k−c, j)/C(k, j) and
  pass^j = C(c, j)/C(k, j) (j = k gives the two above);
- ``mean_agreement``: per case, the share of its trials on the majority side, averaged;
- ``flaky_cases``: the cases whose trials disagree (some passed, some failed), by id (the
  first 200; ``flaky_count`` all of them).

Computed when the report is read (not kept with the run's summary): a sibling's verdicts do
not move this run's data version.
"""

from __future__ import annotations

from math import comb
from typing import Any

from evaluations.models import ONE_PER_EVALUATOR
from evaluations.reports.common import fetch
from runs.models import ModelRun
from runs.trials import trial_runs

FLAKY_LISTED = 200

_SQL = f"""
SELECT e.evaluator_type, r.test_case_id, count(*), count(*) FILTER (WHERE e.passed)
FROM evaluations e JOIN responses r ON r.id = e.response_id
WHERE r.run_id = ANY(%(runs)s) AND {ONE_PER_EVALUATOR}
GROUP BY e.evaluator_type, r.test_case_id
ORDER BY e.evaluator_type, r.test_case_id
"""


def trials_block(run: ModelRun) -> dict[str, Any] | None:
    """``{"<evaluator>": {"k", "cases", "pass_at_k", "pass_all_k", "pass_at", "pass_all",
    "mean_agreement", "flaky_count", "flaky_cases"}}``, or None for a run without trials."""
    runs = [member.pk for member in trial_runs(run)]
    if len(runs) < 2:
        return None
    k = len(runs)
    per_evaluator: dict[str, list[tuple[int, int]]] = {}
    for evaluator, case_id, n, passed in fetch(_SQL, {"runs": runs}):
        if n == k:  # a case some trial has no verdict for is left out
            per_evaluator.setdefault(evaluator, []).append((case_id, passed))
    return {name: summarize(k, cases) for name, cases in sorted(per_evaluator.items())}


def summarize(k: int, cases: list[tuple[int, int]]) -> dict[str, Any]:
    """The figures of one evaluator from (case id, trials passed) over k trials each."""
    count = len(cases)
    pass_at = [
        sum(1 - comb(k - c, j) / comb(k, j) for _, c in cases) / count for j in range(1, k + 1)
    ]
    pass_all = [sum(comb(c, j) / comb(k, j) for _, c in cases) / count for j in range(1, k + 1)]
    flaky = [case_id for case_id, c in cases if 0 < c < k]
    return {
        "k": k,
        "cases": count,
        "pass_at_k": pass_at[-1],
        "pass_all_k": pass_all[-1],
        "pass_at": pass_at,
        "pass_all": pass_all,
        "mean_agreement": sum(max(c, k - c) / k for _, c in cases) / count,
        "flaky_count": len(flaky),
        "flaky_cases": flaky[:FLAKY_LISTED],
    }
