"""The text evaluators (evaluations/evaluators/text.py).

Expected numbers are worked out by hand in the comments, not taken from the
implementation.
"""

import math

import pytest

from evaluations.evaluators import (
    normalize_text,
)
from tests.evaluations.scoring import assert_error, run

# --- text_normalized_match -------------------------------------------------------------


def test_normalize_text():
    assert normalize_text("  Hello,\n  WORLD!! ") == "hello world"
    assert normalize_text("«Bonjour» — l’été…") == "bonjour lété"
    assert normalize_text("don't") == "dont"


@pytest.mark.parametrize(
    ("output", "truth", "equal"),
    [
        ({"text": "  The  Cat, sat! "}, {"text": "the cat sat"}, True),
        ("don't", "dont", True),
        ("«Bonjour»", "bonjour", True),
        ("café", "cafe", False),  # accents are not punctuation
        ("cat", "cats", False),
        ("new york.", {"texts": ["NYC", "New York"]}, True),  # any reference
        ("", {"text": "..."}, True),
    ],
)
def test_text_normalized_match(output, truth, equal):
    verdict = run("text_normalized_match", output, truth)
    assert (verdict.score, verdict.passed) == (float(equal), equal)


def test_text_malformed():
    assert_error(run("text_normalized_match", {"answer": "x"}, "x"), mentions='"text"')
    assert_error(run("text_normalized_match", "x", {"texts": []}), ground_truth=True)


# --- token_f1 -------------------------------------------------------------------------


def test_token_f1_squad():
    # tokens after SQuAD normalisation: [cat, sat, on, mat] vs [cat, on, mat]
    # common 3: P = 3/4, R = 1, F1 = 2 * 0.75 / 1.75 = 6/7
    verdict = run("token_f1", "The cat sat on the mat.", {"text": "A cat on a mat"})
    assert verdict.score == pytest.approx(6 / 7)
    assert verdict.metrics["precision"] == pytest.approx(0.75)
    assert verdict.metrics["recall"] == 1.0
    assert verdict.passed is True


def test_token_f1_counts_repeated_tokens_once_each():
    # [cat, cat, cat] vs [cat]: common 1, P = 1/3, R = 1, F1 = (2/3) / (4/3) = 0.5
    assert run("token_f1", "cat cat cat", "cat").score == pytest.approx(0.5)


def test_token_f1_empty_and_multiple_references():
    assert run("token_f1", "The", "a").score == 1.0  # both empty after normalisation
    assert run("token_f1", "", "cat").score == 0.0
    assert run("token_f1", "dog", "cat").score == 0.0
    # best reference: "cat" vs "cat sat" gives P 1, R 1/2, F1 2/3
    verdict = run("token_f1", "cat", {"texts": ["dog", "cat sat"]})
    assert verdict.score == pytest.approx(2 / 3)


# --- rouge_l --------------------------------------------------------------------------


def test_rouge_l():
    # LCS of [the cat on the mat] and [the cat sat on the mat] is 5 tokens:
    # P = 5/5, R = 5/6, F = 2 * (5/6) / (11/6) = 10/11
    verdict = run("rouge_l", "the cat on the mat", {"text": "the cat sat on the mat"})
    assert verdict.score == pytest.approx(10 / 11)
    assert verdict.metrics["precision"] == pytest.approx(1.0)
    assert verdict.metrics["recall"] == pytest.approx(5 / 6)
    assert verdict.metrics["fmeasure"] == pytest.approx(10 / 11)


def test_rouge_l_uses_the_stemmer():
    # Porter: running -> run, dogs -> dog
    assert run("rouge_l", "running dogs", "run dog").score == pytest.approx(1.0)


def test_rouge_l_best_reference_and_no_overlap():
    assert run("rouge_l", "a b", {"texts": ["x y", "a b"]}).score == pytest.approx(1.0)
    verdict = run("rouge_l", "alpha", "beta")
    assert (verdict.score, verdict.passed) == (0.0, False)


# --- bleu -----------------------------------------------------------------------------


def test_bleu_brevity_penalty():
    # all n-gram precisions 1; hypothesis 6 tokens, reference 7: BP = exp(1 - 7/6)
    verdict = run("bleu", "the cat sat on the mat", {"text": "the cat sat on the mat today"})
    assert verdict.score == pytest.approx(math.exp(-1 / 6))
    assert verdict.metrics["brevity_penalty"] == pytest.approx(math.exp(-1 / 6))
    assert verdict.metrics["bleu"] == pytest.approx(100 * math.exp(-1 / 6))


def test_bleu_case_sensitive_ngram_precisions():
    # "The" does not match "the": precisions 5/6, 4/5, 3/4, 2/3, product 1/3, BP 1
    verdict = run("bleu", "The cat sat on the mat", "the cat sat on the mat")
    assert verdict.score == pytest.approx((1 / 3) ** 0.25)


def test_bleu_13a_tokenizer_and_references():
    # 13a splits the final period, so both sides have the same tokens; clamped to 1.0
    identical = run("bleu", "the cat sat on the mat.", "the cat sat on the mat .")
    assert identical.score == 1.0
    assert identical.passed is True
    # the closest reference length (6) makes BP 1
    verdict = run(
        "bleu", "the cat sat on the mat", ["the cat sat on the mat today", "the cat sat on the mat"]
    )
    assert verdict.score == 1.0
    assert run("bleu", "", "the cat").score == 0.0


# --- fuzzy_ratio ----------------------------------------------------------------------


def test_fuzzy_ratio():
    # kitten -> sitting: Levenshtein distance 3 over the longer length 7: 1 - 3/7
    verdict = run("fuzzy_ratio", "Kitten!", {"text": "SITTING"})
    assert verdict.score == pytest.approx(4 / 7)
    assert verdict.passed is False  # default threshold 0.8
    assert run("fuzzy_ratio", "Hello, World", "hello world").score == 1.0
    assert run("fuzzy_ratio", "abcd", {"texts": ["xxxx", "abce"]}).score == pytest.approx(0.75)


# --- contains / regex -----------------------------------------------------------------


def test_contains():
    text = {"text": "Paris is the capital of France"}
    verdict = run("contains", text, None, substrings=["Paris", "France", "Berlin"])
    assert verdict.score == pytest.approx(2 / 3)
    assert verdict.passed is False  # threshold 1.0: all must be present
    assert verdict.metrics["found"] == ["Paris", "France"]
    assert verdict.metrics["missing"] == ["Berlin"]
    assert '"Berlin"' in verdict.feedback
    assert run("contains", text, None, substrings=["paris"]).score == 0.0
    assert run("contains", text, None, substrings=["paris"], ignore_case=True).score == 1.0
    half = run("contains", text, None, substrings=["Paris", "Rome"], threshold=0.5)
    assert (half.score, half.passed) == (0.5, True)


def test_regex():
    verdict = run("regex", "call 555-1234 now", None, pattern=r"\d{3}-\d{4}")
    assert (verdict.score, verdict.passed) == (1.0, True)
    assert verdict.metrics["matched"] == "555-1234"
    assert run("regex", "call 555-1234", None, pattern=r"\d{3}-\d{4}", full_match=True).score == 0
    assert run("regex", "YES", None, pattern="yes").score == 0.0
    assert run("regex", "YES", None, pattern="yes", ignore_case=True).score == 1.0
    assert_error(run("regex", {"txt": "x"}, None, pattern="x"), mentions='"text"')
