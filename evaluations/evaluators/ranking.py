"""Ranking: NDCG@k against graded relevance."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cases.shapes import coerce_ranking, coerce_relevance

from .base import (
    Evaluator,
    Example,
    GroundTruthError,
    Param,
    Verdict,
    ground_truth,
    threshold_param,
)


def _discount(position: int) -> float:
    """log2 discount of a 0-based position: 1 / log2(position + 2)."""
    return 1.0 / math.log2(position + 2)


def ndcg_at_k(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """NDCG@k with gain 2^grade - 1 and log2 discount; IDCG from the ground-truth grades.

    An item listed twice earns its gain once (the repeat wastes a slot), so a
    ranking can never beat the ideal one.
    """
    grades = ground_truth(coerce_relevance, truth)
    n_relevant = sum(1 for g in grades.values() if g > 0)
    if n_relevant == 0:
        raise GroundTruthError("no item has a relevance grade above 0, so NDCG is undefined")
    ranking = coerce_ranking(output)
    k = params["k"]

    seen: set[str] = set()
    dcg = 0.0
    hits_at_k = 0
    first_relevant_rank = None
    for position, item in enumerate(ranking):
        if position >= k and first_relevant_rank is not None:
            break  # past k only the first relevant item's rank (for MRR) matters
        if item in seen:
            continue
        seen.add(item)
        grade = grades.get(item, 0.0)
        if grade <= 0:
            continue
        if first_relevant_rank is None:
            first_relevant_rank = position + 1
        if position < k:
            hits_at_k += 1
            dcg += (2.0**grade - 1.0) * _discount(position)

    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2.0**g - 1.0) * _discount(i) for i, g in enumerate(ideal) if g > 0)
    ndcg = min(1.0, dcg / idcg)
    mrr = 1.0 / first_relevant_rank if first_relevant_rank else 0.0
    metrics = {
        "ndcg": ndcg,
        "precision_at_k": hits_at_k / k,
        "recall_at_k": hits_at_k / n_relevant,
        "mrr": mrr,
        "k": k,
        "dcg": dcg,
        "idcg": idcg,
    }
    if first_relevant_rank is None:
        feedback = f"NDCG@{k} 0.00: no relevant item anywhere in the ranking."
    else:
        feedback = (
            f"NDCG@{k} {ndcg:.2f}; {hits_at_k} of {n_relevant} relevant items in the top {k}, "
            f"first at rank {first_relevant_rank}."
        )
    return Verdict(ndcg, ndcg >= params["threshold"], metrics, feedback)


EVALUATORS = [
    Evaluator(
        name="ndcg_at_k",
        version="1",
        description=(
            "NDCG@k: gain 2^grade - 1, discount 1/log2(rank + 1), ideal DCG from the "
            "ground-truth grades. Metrics: ndcg, precision_at_k (hits / k, even when the "
            "ranking is shorter), recall_at_k, mrr (reciprocal rank of the first relevant "
            "item in the whole ranking, 0 if none). Repeated items count once."
        ),
        expects=(
            'output {"ranking": [item ids]} or a bare list, best first; ground truth '
            '{"relevant": [item ids]} (grade 1 each) or {"relevance": {item_id: grade}}, '
            'at least one grade > 0; ids compare as strings (17 matches "17")'
        ),
        passed_when="score >= threshold",
        params=(
            Param("k", "integer", 10, "cut-off rank", minimum=1),
            threshold_param(0.5),
        ),
        example=Example({"ranking": ["d3", "d1", "d7"]}, {"relevance": {"d1": 2, "d7": 1}}),
        score=ndcg_at_k,
    ),
]
