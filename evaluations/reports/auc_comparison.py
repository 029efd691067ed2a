"""The comparison's ``auc`` block: two runs' ROC AUC on the same cases and DeLong's test of
their difference, beside the pass-rate McNemar test.

For two-label runs whose outputs carry probabilities (``classification.scores``): the cases
both runs scored with a probability (and the same expected label) are paired, the positive
label's probability of each read into arrays in one statement (from ``label_scores``, as the
report's :mod:`.scores`), and
:func:`evaluations.delong.delong_test` gives AUC A, AUC B, the difference B - A, its standard
error, 95% interval and p-value. The positive label is the one of run A's report (its
``positive_label``, else run B's, else the second expected label in sorted order).
"""

from __future__ import annotations

from cases.shapes import canonical_label
from evaluations.delong import delong_test
from evaluations.reports.common import fetch, fetch_arrays
from evaluations.reports.scores import POSITIVE_SCORE
from runs.models import ModelRun

__all__ = ["auc_comparison"]

# The expected labels of run A's covered verdicts: two of them make a binary comparison.
_LABELS_SQL = """
SELECT min(s.actual COLLATE "C"), max(s.actual COLLATE "C"), count(*)
FROM label_scores s WHERE s.run_id = %(a)s
"""

_SIDE = f"""
    SELECT s.test_case_id, s.actual, {POSITIVE_SCORE} AS p
    FROM label_scores s WHERE s.run_id = %({{run}})s
"""

# The negative labels' extremes tell a second negative label (three labels: no binary AUC).
_PAIRS_SQL = f"""
SELECT array_agg(a.p), array_agg(b.p), array_agg(a.actual = %(positive)s),
       min(a.actual) FILTER (WHERE a.actual <> %(positive)s),
       max(a.actual) FILTER (WHERE a.actual <> %(positive)s)
FROM ({_SIDE.format(run="a")}) a
JOIN ({_SIDE.format(run="b")}) b ON b.test_case_id = a.test_case_id AND b.actual = a.actual
"""


def _positive_label(run_a: ModelRun, run_b: ModelRun, params: dict) -> str | None:
    """Run A's positive label, else run B's, else the second of run A's two expected labels
    in sorted order (None when it has scored fewer than two). One statement at most."""
    for run in (run_a, run_b):
        label = canonical_label(run.config.get("positive_label"))
        if label is not None:
            return label
    low, high, covered = fetch(_LABELS_SQL, params)[0]
    return high if covered and low != high else None


def auc_comparison(run_a: ModelRun, run_b: ModelRun, positive: str | None = None) -> dict | None:
    """DeLong's test of the two runs' AUCs for ``positive`` (worked out when None: see
    :func:`_positive_label`); None unless both scored two labels with probabilities on
    common cases. One or two statements."""
    params = {"a": run_a.pk, "b": run_b.pk}
    positive = positive or _positive_label(run_a, run_b, params)
    if positive is None:
        return None
    p_a, p_b, y, low, high = fetch_arrays(_PAIRS_SQL, {**params, "positive": positive})
    if not p_a.size or low is None or low != high:  # one label only, or three
        return None
    result = delong_test(y.astype(bool), p_a, p_b)
    return None if result is None else {"positive_label": positive, **result}
