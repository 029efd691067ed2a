"""The report's ``classification.scores`` block: ROC, precision-recall, log loss, Brier,
calibration and the threshold grid of the probabilities a classifier gave with its labels.

``label_match`` keeps a well-formed output's probabilities in its metrics (``scores``, the
whole distribution, or ``confidence``, the probability of the predicted label), and
PostgreSQL triggers copy them into the narrow ``label_scores`` table keyed by run
(``evaluations.models.LabelScore``); this module reads a run's rows of it into numpy arrays
with one statement (binary ``array_agg``: :func:`.common.fetch_arrays`), no join and no JSON
to decode, and :mod:`evaluations.curves` computes the figures. Covered: well-formed
label_match verdicts with ``scores``, or, for two labels, with a ``confidence`` (the positive
label's probability is the confidence when it was predicted, 1 - confidence otherwise). The
block's ``count`` says how many that is; the classification block's own ``count`` how many
labels were scored.
"""

from __future__ import annotations

import numpy as np

from evaluations import curves
from evaluations.reports.common import fetch_arrays

__all__ = ["MAX_SCORED_LABELS", "positive_scores", "scores_block"]

#: Past this many labels the one-vs-rest figures are left out (one array per label).
MAX_SCORED_LABELS = 50

# The positive label's probability: from the distribution, else from the confidence.
POSITIVE_SCORE = """
    CASE WHEN s.labels IS NOT NULL
         THEN coalesce(s.probabilities[array_position(s.labels, %(positive)s)], 0)
         WHEN s.predicted = %(positive)s THEN s.confidence
         ELSE 1 - s.confidence END"""

_BINARY_SQL = f"""
SELECT array_agg({POSITIVE_SCORE}), array_agg(s.actual = %(positive)s)
FROM label_scores s WHERE s.run_id = %(run)s
"""

# Aggregated over a subquery, so every array holds the same rows in the same order.
_MULTICLASS_SQL = """
SELECT array_agg(s.actual), array_agg(s.predicted){aggregates}
FROM (
    SELECT array_position(%(labels)s::text[], s.actual) AS actual,
           array_position(%(labels)s::text[], s.predicted) AS predicted{columns}
    FROM label_scores s WHERE s.run_id = %(run)s AND s.labels IS NOT NULL
) s
"""


def positive_scores(run_id: int, positive: str) -> tuple[np.ndarray, np.ndarray]:
    """Per covered response of a two-label run: the positive label's probability and whether
    the actual label is the positive one. One statement."""
    p, y = fetch_arrays(_BINARY_SQL, {"run": run_id, "positive": positive})
    return p, y.astype(bool)


def scores_block(run_id: int, labels: list[str], positive: str | None) -> dict | None:
    """The block for a run whose classification block has ``labels`` (``positive`` the
    positive one when there are two), or None when no response carries probabilities."""
    if len(labels) == 2 and positive is not None:
        p, y = positive_scores(run_id, positive)
        return curves.binary_block(y, p, positive) if p.size else None
    if len(labels) < 3 or len(labels) > MAX_SCORED_LABELS:
        return None
    k = range(len(labels))
    sql = _MULTICLASS_SQL.format(
        aggregates="".join(f", array_agg(s.p{i})" for i in k),
        columns="".join(
            f",\n coalesce(s.probabilities[array_position(s.labels, %(label{i})s)], 0) AS p{i}"
            for i in k
        ),
    )
    params = {
        "run": run_id,
        "labels": labels,
        **{f"label{k}": label for k, label in enumerate(labels)},
    }
    actual, predicted, *columns = fetch_arrays(sql, params)
    if not actual.size:
        return None
    scores = np.column_stack(columns)
    return curves.multiclass_block(labels, scores, actual - 1, predicted - 1)
