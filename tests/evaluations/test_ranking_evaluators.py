"""ndcg_at_k (evaluations/evaluators/ranking.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import math

import pytest

from tests.evaluations.scoring import assert_error, run

# --- ndcg_at_k ------------------------------------------------------------------------


def test_ndcg_graded():
    # ranking d3 (0), d1 (2), d7 (1):
    # DCG  = (2^2-1)/log2(3) + (2^1-1)/log2(4) = 3/log2(3) + 1/2
    # IDCG = (2^2-1)/log2(2) + (2^1-1)/log2(3) = 3 + 1/log2(3)
    verdict = run("ndcg_at_k", {"ranking": ["d3", "d1", "d7"]}, {"relevance": {"d1": 2, "d7": 1}})
    expected = (3 / math.log2(3) + 0.5) / (3 + 1 / math.log2(3))
    assert verdict.score == pytest.approx(expected)
    assert verdict.passed is True
    m = verdict.metrics
    assert m["ndcg"] == pytest.approx(expected)
    assert m["precision_at_k"] == pytest.approx(2 / 10)
    assert m["recall_at_k"] == 1.0
    assert m["mrr"] == 0.5


def test_ndcg_perfect_and_ties():
    assert run("ndcg_at_k", ["d1", "d7"], {"relevance": {"d1": 2, "d7": 1}}).score == 1.0
    # equal grades: either order is ideal
    assert run("ndcg_at_k", ["b", "a"], {"relevance": {"a": 1, "b": 1}}).score == 1.0


def test_ndcg_ranking_shorter_than_k():
    # relevant a, b, c; ranking [a]; k 5. DCG 1, IDCG 1 + 1/log2(3) + 1/2
    verdict = run("ndcg_at_k", ["a"], {"relevant": ["a", "b", "c"]}, k=5)
    assert verdict.score == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    assert verdict.metrics["precision_at_k"] == pytest.approx(1 / 5)
    assert verdict.metrics["recall_at_k"] == pytest.approx(1 / 3)
    assert verdict.metrics["mrr"] == 1.0


def test_ndcg_cut_at_k_but_mrr_over_whole_ranking():
    verdict = run("ndcg_at_k", ["a", "b", "x"], {"relevant": ["x"]}, k=2)
    assert verdict.score == 0.0
    assert verdict.metrics["precision_at_k"] == 0.0
    assert verdict.metrics["mrr"] == pytest.approx(1 / 3)


def test_ndcg_no_relevant_item_and_empty_ranking():
    verdict = run("ndcg_at_k", ["p", "q"], {"relevant": ["x"]})
    assert (verdict.score, verdict.metrics["mrr"]) == (0.0, 0.0)
    empty = run("ndcg_at_k", [], {"relevant": ["x"]})
    assert (empty.score, empty.metrics["mrr"], empty.metrics["recall_at_k"]) == (0.0, 0.0, 0.0)


def test_ndcg_ids_compare_as_strings_and_repeats_count_once():
    assert run("ndcg_at_k", {"ranking": ["17"]}, {"relevant": [17]}).score == 1.0
    # [a, a, b]: DCG = 1/log2(2) + 0 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    verdict = run("ndcg_at_k", ["a", "a", "b"], {"relevant": ["a", "b"]})
    assert verdict.score == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_ndcg_ground_truth_without_relevant_item():
    verdict = run("ndcg_at_k", ["a"], {"relevance": {"a": 0}})
    assert_error(verdict, ground_truth=True, mentions="NDCG is undefined")
