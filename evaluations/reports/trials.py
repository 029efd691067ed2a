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

Lists of runs (the leaderboard, a model's page) show a trial group as one entry
(:func:`collapse_trials`): its first trial stands for it, with figures over its trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from statistics import fmean
from typing import Any

from evaluations.models import ONE_PER_EVALUATOR
from evaluations.reports.common import fetch
from evaluations.reports.figures import evaluator_entry
from runs.models import ModelRun
from runs.trials import trial_group_of, trial_runs

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


def collapse_trials(
    runs: Sequence[ModelRun], figures: dict[int, dict]
) -> tuple[list[ModelRun], dict[int, dict]]:
    """``runs`` (in their order) and their ``figures`` by run id (``evaluators``,
    ``latency_ms``, ``tokens``, ``summary``, as :func:`evaluations.summaries.current_figures`
    gives them) with each trial group as one entry: its first trial, at the first trial's
    place, with :func:`merge_trials`' figures; the other trials are left out of the list.
    No query."""
    members: dict[int, list[ModelRun]] = {}
    for run in runs:
        group = trial_group_of(run)
        if group is not None:
            members.setdefault(group, []).append(run)
    shown, merged = [], dict(figures)
    for run in runs:
        group = trial_group_of(run)
        trials = members.get(group, ()) if group is not None else ()
        if len(trials) < 2:
            shown.append(run)
        elif run is trials[0]:
            shown.append(run)
            merged[run.pk] = merge_trials([figures[trial.pk] for trial in trials])
            merged[run.pk]["trials"] = {"k": len(trials), "runs": [t.pk for t in trials]}
    return shown, merged


def merge_trials(trials: Sequence[dict]) -> dict:
    """One trial group's figures from its trials' (each as :func:`collapse_trials` takes
    them). Per evaluator: ``count`` and ``passed`` over all trials, ``pass_rate`` and
    ``mean_score`` the means over the trials that have its verdicts (``trials`` of them),
    ``pass_rate_ci95`` the Wilson interval of one trial's size at the mean rate (wider than
    the mean's own: the trials answer the same cases, so they are not independent samples).
    Latency figures are the trials' means, ``tokens.total`` their sum."""
    evaluators: dict[str, dict] = {}
    for name in sorted({name for trial in trials for name in trial["evaluators"]}):
        entries = [trial["evaluators"][name] for trial in trials if name in trial["evaluators"]]
        k = len(entries)
        count, passed = sum(e["count"] for e in entries), sum(e["passed"] for e in entries)
        rates = [e["pass_rate"] for e in entries if e["pass_rate"] is not None]
        entry = evaluator_entry(round(count / k), round(passed / k), 0.0)
        evaluators[name] = {
            **entry,
            "count": count,
            "passed": passed,
            "pass_rate": fmean(rates) if rates else None,
            "mean_score": fmean(e["mean_score"] for e in entries),
            "trials": k,
        }
    # The summary block of a trial being recomputed, if any (summary_store.FRESH is "fresh";
    # live figures have no summary block).
    blocks = [trial["summary"] for trial in trials if "summary" in trial]
    stale = [block for block in blocks if block["state"] != "fresh"]
    merged = {
        "evaluators": evaluators,
        "latency_ms": {
            key: _mean([trial["latency_ms"].get(key) for trial in trials])
            for key in trials[0]["latency_ms"]
        },
        "tokens": {
            "total": sum(trial["tokens"]["total"] or 0 for trial in trials)
            if any(trial["tokens"]["total"] is not None for trial in trials)
            else None,
            "mean": _mean([trial["tokens"]["mean"] for trial in trials]),
        },
    }
    if blocks:
        merged["summary"] = (stale or blocks)[0]
    return merged


def _mean(values: list) -> float | None:
    known = [value for value in values if value is not None]
    return fmean(known) if known else None
