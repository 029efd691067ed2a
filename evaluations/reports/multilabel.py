"""The report's ``multilabel`` block: micro and macro precision, recall and F1, Hamming loss,
subset accuracy and per-label support of a run's ``multilabel_f1`` verdicts.

Counted in PostgreSQL from the label sets the evaluator keeps in its metrics (``predicted``,
``actual``; verdicts from before it kept them are left out, as are malformed outputs):
per label its support, how often it was predicted and how often both. Definitions as
scikit-learn's on the binarized label matrix whose columns are every label seen (in a ground
truth or a prediction): macro figures average the labels (an undefined precision or recall
counts 0, as ``zero_division=0``); Hamming loss = (FP + FN) / (responses x labels); subset
accuracy = the share of responses whose set is exactly right.
"""

from __future__ import annotations

from evaluations.reports.common import DOMAIN_EVALUATORS, fetch, rate

__all__ = ["multilabel_block"]

_SQL = """
WITH c AS (
    SELECT e.metrics AS m
    FROM evaluations e
    JOIN responses r ON r.id = e.response_id
    WHERE r.run_id = %(run)s AND e.evaluator_type = %(evaluator)s
      AND NOT (e.metrics ? 'error')
      AND jsonb_typeof(e.metrics->'actual') = 'array'
      AND jsonb_typeof(e.metrics->'predicted') = 'array'
)
SELECT 'actual', x, count(*), count(*) FILTER (WHERE c.m->'predicted' ? x)
FROM c, jsonb_array_elements_text(c.m->'actual') x GROUP BY x
UNION ALL
SELECT 'predicted', x, count(*), 0 FROM c, jsonb_array_elements_text(c.m->'predicted') x GROUP BY x
UNION ALL
SELECT 'responses', NULL, count(*),
       count(*) FILTER (WHERE (c.m->>'fp')::int = 0 AND (c.m->>'fn')::int = 0)
FROM c
"""


def multilabel_block(run_id: int) -> dict | None:
    """The block, or None when no verdict carries label sets. One statement."""
    support: dict[str, int] = {}
    both: dict[str, int] = {}
    predicted: dict[str, int] = {}
    responses = exact = 0
    params = {"run": run_id, "evaluator": DOMAIN_EVALUATORS["multilabel"]}
    for kind, label, n, m in fetch(_SQL, params):
        if kind == "actual":
            support[label], both[label] = n, m
        elif kind == "predicted":
            predicted[label] = n
        else:
            responses, exact = n, m
    if not responses:
        return None
    labels = sorted(set(support) | set(predicted))
    per_label = {}
    for label in labels:
        tp, s, q = both.get(label, 0), support.get(label, 0), predicted.get(label, 0)
        per_label[label] = {
            "precision": rate(tp, q),
            "recall": rate(tp, s),
            "f1": rate(2 * tp, s + q),
            "support": s,
            "predicted": q,
        }
    tp = sum(both.values())
    fp = sum(predicted.values()) - tp
    fn = sum(support.values()) - tp
    macro = {
        key: rate(sum(entry[key] for entry in per_label.values()), len(labels))
        for key in ("precision", "recall", "f1")
    }
    return {
        "count": responses,
        "micro_precision": rate(tp, tp + fp),
        "micro_recall": rate(tp, tp + fn),
        "micro_f1": rate(2 * tp, 2 * tp + fp + fn),
        "macro_precision": macro["precision"],
        "macro_recall": macro["recall"],
        "macro_f1": macro["f1"],
        "hamming_loss": rate(fp + fn, responses * len(labels)),
        "subset_accuracy": rate(exact, responses),
        "labels": len(labels),
        "per_label": per_label,
    }
