"""Text evaluators.

Every evaluator that compares to a reference accepts one or several references
(``{"text": ...}`` or ``{"texts": [...]}``) and keeps the best match, as the
SQuAD script does with several gold answers; BLEU uses them all at once, as
multi-reference BLEU does. ``contains`` and ``regex`` look only at the output.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cases.shapes import coerce_text, coerce_texts
from mleval_site.api_schema import text as text_schema

from .base import (
    Evaluator,
    Example,
    ExtraMissing,
    Param,
    Verdict,
    ground_truth,
    quote,
    threshold_param,
)

_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WHITESPACE = re.compile(r"\s+")


def _strip_punctuation(text: str) -> str:
    """Drop ASCII punctuation and symbols plus every Unicode punctuation character."""
    if text.isascii():
        return text.translate(_ASCII_PUNCTUATION)
    text = text.translate(_ASCII_PUNCTUATION)
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def normalize_text(text: str) -> str:
    """Lower-case (case-fold), strip punctuation, collapse whitespace and trim.

    The normalisation of text_normalized_match, reused by fuzzy_ratio so both
    agree on what "the same text" means.
    """
    return _WHITESPACE.sub(" ", _strip_punctuation(text.casefold())).strip()


def text_normalized_match(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = {normalize_text(r) for r in ground_truth(coerce_texts, truth)}
    correct = normalize_text(coerce_text(output)) in references
    feedback = (
        "Output matches the reference after normalisation."
        if correct
        else "Output differs from the reference after normalisation."
    )
    return Verdict(1.0 if correct else 0.0, correct, {}, feedback)


# --- token F1, following the official SQuAD v2.0 evaluation script ------------------

_SQUAD_PUNCTUATION = set(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def squad_normalize(text: str) -> str:
    """The official SQuAD ``normalize_answer``: lower-case, strip punctuation,
    drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCTUATION)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def _token_prf(predicted: list[str], reference: list[str]) -> tuple[float, float, float]:
    if not predicted or not reference:
        # SQuAD v2: an empty answer is right only against an empty answer.
        same = float(predicted == reference)
        return same, same, same
    common = sum((Counter(predicted) & Counter(reference)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision = common / len(predicted)
    recall = common / len(reference)
    return precision, recall, 2 * precision * recall / (precision + recall)


def token_f1(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = ground_truth(coerce_texts, truth)
    predicted = squad_normalize(coerce_text(output)).split()
    precision, recall, f1 = max(
        (_token_prf(predicted, squad_normalize(r).split()) for r in references),
        key=lambda prf: prf[2],
    )
    feedback = f"Token F1 {f1:.2f} (precision {precision:.2f}, recall {recall:.2f})."
    metrics = {"precision": precision, "recall": recall, "f1": f1}
    return Verdict(f1, f1 >= params["threshold"], metrics, feedback)


# --- ROUGE-L, from rouge-score ---------------------------------------------------------

# Pinned: rouge-score's default tokenizer (lower-case, runs of [a-z0-9], so it is
# meant for English) with its Porter stemmer on, as in the original ROUGE -m.
ROUGE_USE_STEMMER = True


@functools.cache
def _rouge():
    """Built on first use: rouge-score pulls in nltk (and scipy, pandas), ~150 MB and 2 s that
    every web and worker process would otherwise pay at start-up."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=ROUGE_USE_STEMMER)


def rouge_l(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = ground_truth(coerce_texts, truth)
    prediction = coerce_text(output)
    if len(references) == 1:
        best = _rouge().score(references[0], prediction)["rougeL"]
    else:
        best = _rouge().score_multi(references, prediction)["rougeL"]
    f = float(best.fmeasure)
    metrics = {
        "precision": float(best.precision),
        "recall": float(best.recall),
        "fmeasure": f,
    }
    feedback = (
        f"ROUGE-L F-measure {f:.2f} (precision {best.precision:.2f}, recall {best.recall:.2f})."
    )
    return Verdict(f, f >= params["threshold"], metrics, feedback)


# --- BLEU, from sacrebleu --------------------------------------------------------------

# Pinned: the 13a tokenizer (mteval's, sacrebleu's default), exponential smoothing,
# effective order for short sentences, case-sensitive. One instance, reused.
BLEU_TOKENIZE = "13a"


@functools.cache
def _bleu():
    """Built on first use, like _rouge()."""
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=BLEU_TOKENIZE, smooth_method="exp", effective_order=True)


def bleu(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = ground_truth(coerce_texts, truth)
    result = _bleu().sentence_score(coerce_text(output), references)
    score = min(1.0, max(0.0, result.score / 100))  # sacrebleu can say 100.00000000000004
    metrics = {"bleu": result.score, "brevity_penalty": result.bp}
    feedback = f"Sentence BLEU {result.score:.1f} (brevity penalty {result.bp:.2f})."
    return Verdict(score, score >= params["threshold"], metrics, feedback)


# --- fuzzy ratio, from rapidfuzz -------------------------------------------------------

# rapidfuzz (~12 MB) is an extra: no default evaluator needs it, so `make run` leaves it out.
FUZZY_INSTALL = "pip install 'mleval[fuzzy]'"


@functools.cache
def _levenshtein():
    """rapidfuzz's Levenshtein, imported on first use; where the fuzzy extra is not installed,
    ExtraMissing saying how to install it."""
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        raise ExtraMissing(
            f"fuzzy_ratio needs rapidfuzz, which this install lacks: {FUZZY_INSTALL}"
        ) from None
    return Levenshtein


def _needs_rapidfuzz(params: Mapping[str, Any]) -> None:
    """fuzzy_ratio's check_params: refused when chosen (form, API, CLI), not case by case."""
    _levenshtein()


def fuzzy_ratio(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = ground_truth(coerce_texts, truth)
    predicted = normalize_text(coerce_text(output))
    similarity = _levenshtein().normalized_similarity
    score = max(similarity(predicted, normalize_text(r)) for r in references)
    feedback = f"Normalised edit similarity {score:.2f}."
    return Verdict(score, score >= params["threshold"], {}, feedback)


# --- contains / regex ------------------------------------------------------------------


def contains(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    """Share of the required substrings present in the output."""
    text = coerce_text(output)
    substrings = params["substrings"]
    if params["ignore_case"]:
        haystack = text.casefold()
        found = [s for s in substrings if s.casefold() in haystack]
    else:
        found = [s for s in substrings if s in text]
    missing = [s for s in substrings if s not in found]
    score = len(found) / len(substrings)
    if missing:
        shown = ", ".join(quote(s) for s in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        feedback = f"Output lacks {shown}{more}."
    else:
        feedback = "Output contains every required substring."
    metrics = {"found": found, "missing": missing}
    return Verdict(score, score >= params["threshold"], metrics, feedback)


def _check_substrings(value: list[str]) -> None:
    if not value:
        raise ValueError("must list at least one substring")
    if any(not s for s in value):
        raise ValueError("must not contain an empty string")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compiled once per (pattern, flag), however many responses are scored."""
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def _check_pattern(value: str) -> None:
    try:
        compile_pattern(value, False)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None


def regex(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    text = coerce_text(output)
    pattern = compile_pattern(params["pattern"], params["ignore_case"])
    match = pattern.fullmatch(text) if params["full_match"] else pattern.search(text)
    if match:
        feedback = f"Output matches /{params['pattern']}/."
        metrics = {"matched": match.group(0)[:200]}
    else:
        feedback = f"Output does not match /{params['pattern']}/."
        metrics = {"matched": None}
    return Verdict(1.0 if match else 0.0, match is not None, metrics, feedback)


_REFERENCES = 'ground truth {"text": str}, {"texts": [str]} (several references) or a string'

EVALUATORS = [
    Evaluator(
        name="text_normalized_match",
        version="1",
        description=(
            "1 when output and reference are equal after case folding, stripping "
            "punctuation (ASCII punctuation/symbols and Unicode punctuation), collapsing "
            "whitespace and trimming; with several references, any may match."
        ),
        expects=f'output {{"text": str}} or a string; {_REFERENCES}',
        passed_when="the normalised texts are equal",
        params=(),
        example=Example({"text": "Paris."}, {"text": "paris"}),
        score=text_normalized_match,
    ),
    Evaluator(
        name="token_f1",
        version="1",
        description=(
            "Token-overlap F1 after the official SQuAD normalisation (lower-case, strip "
            "punctuation, drop a/an/the, collapse whitespace); best over references; "
            "an empty answer scores 1 only against an empty reference."
        ),
        expects=f'output {{"text": str}} or a string; {_REFERENCES}',
        passed_when="score >= threshold",
        params=(threshold_param(0.5),),
        example=Example({"text": "the Eiffel Tower in Paris"}, {"text": "Eiffel Tower"}),
        score=token_f1,
    ),
    Evaluator(
        name="rouge_l",
        version="1",
        description="ROUGE-L F-measure (longest common subsequence), from rouge-score.",
        expects=(
            f'output {{"text": str}} or a string; {_REFERENCES}. Pinned: rouge-score\'s '
            "default tokenizer (lower-cased [a-z0-9] runs, English only: other characters "
            "are dropped) with use_stemmer=True (Porter); best F over references"
        ),
        passed_when="score >= threshold",
        params=(threshold_param(0.5),),
        example=Example(
            {"text": "the cat sat on the mat"}, {"text": "a cat was sitting on the mat"}
        ),
        score=rouge_l,
    ),
    Evaluator(
        name="bleu",
        version="1",
        description=(
            "Sentence BLEU / 100 from sacrebleu (metrics.bleu is sacrebleu's 0-100 score). "
            "Short outputs score low; the default threshold is a high bar for BLEU."
        ),
        expects=(
            f'output {{"text": str}} or a string; {_REFERENCES}, all used as references. '
            'Pinned: tokenize="13a", smooth_method="exp", effective order, case-sensitive'
        ),
        passed_when="score >= threshold",
        params=(threshold_param(0.5),),
        example=Example(
            {"text": "the cat sat on the mat"}, {"texts": ["the cat sat on the mat today"]}
        ),
        score=bleu,
    ),
    Evaluator(
        name="fuzzy_ratio",
        version="1",
        description=(
            "rapidfuzz Levenshtein normalized_similarity of the texts after "
            "text_normalized_match's normalisation; best over references. Needs the fuzzy "
            f"extra ({FUZZY_INSTALL}); without it, choosing fuzzy_ratio is refused."
        ),
        expects=f'output {{"text": str}} or a string; {_REFERENCES}',
        passed_when="score >= threshold",
        params=(threshold_param(0.8),),
        example=Example({"text": "Helo, world"}, {"text": "hello world"}),
        score=fuzzy_ratio,
        check_params=_needs_rapidfuzz,
    ),
    Evaluator(
        name="contains",
        version="1",
        description=(
            "Share of the required substrings found in the output (1 when all are present); "
            "the ground truth is not used."
        ),
        expects='output {"text": str} or a string; parameter substrings',
        passed_when="score >= threshold (by default: every substring present)",
        params=(
            Param(
                "substrings",
                "string list",
                None,
                "the substrings the output must contain",
                required=True,
                check=_check_substrings,
                schema={
                    "anyOf": [
                        text_schema(minLength=1),
                        {"type": "array", "items": text_schema(minLength=1), "minItems": 1},
                    ]
                },
            ),
            Param("ignore_case", "boolean", False, "match case-insensitively"),
            threshold_param(1.0),
        ),
        example=Example(
            {"text": "Paris is the capital of France."}, None, {"substrings": ["Paris"]}
        ),
        score=contains,
    ),
    Evaluator(
        name="regex",
        version="1",
        description=(
            "1 when the Python regular expression matches the output (re.search, or "
            "re.fullmatch with full_match); the ground truth is not used."
        ),
        expects='output {"text": str} or a string; parameter pattern',
        passed_when="the pattern matches",
        params=(
            Param(
                "pattern",
                "string",
                None,
                "a Python regular expression",
                required=True,
                check=_check_pattern,
                schema=text_schema(format="regex"),
            ),
            Param("ignore_case", "boolean", False, "match case-insensitively"),
            Param("full_match", "boolean", False, "the whole output must match"),
        ),
        example=Example({"text": "Order #12345 shipped"}, None, {"pattern": r"#\d{5}\b"}),
        score=regex,
    ),
]
