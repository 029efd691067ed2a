"""Pure evaluators: (output_data, ground_truth, params) -> Verdict, no database.

The pipeline validates parameters once (:func:`validate_params`, or
:func:`parse_evaluator_spec` for the ``--evaluator NAME[:JSON_PARAMS]`` flag),
then calls :func:`run_evaluator` per response; it never raises for a model's
output, so a malformed response becomes a score-0 verdict with
``metrics.error`` (and ``metrics.ground_truth_error`` when the curated ground
truth is what is wrong). :data:`REGISTRY` describes every evaluator; :mod:`.docs`
turns those descriptions into the ``/evaluators/`` documentation page.

Evaluators are split by family: ``classification`` (label_match,
multilabel_f1), ``numeric`` (numeric_tolerance, forecast_error), ``text``
(text_normalized_match, token_f1, rouge_l, bleu, fuzzy_ratio, contains, regex),
``structured`` (exact_match, json_schema), ``detection`` (iou), ``ranking``
(ndcg_at_k), ``assertions`` (the ground truth's own "assert" list) and ``judge``
(llm_judge: its verdicts are made by the pipeline's judging stage, :mod:`evaluations.judging`,
which asks a model). The JSON shapes themselves live in :mod:`cases.shapes`.

``semantic_similarity`` (the optional extra of EVALUATORS.md) is not
implemented: it needs a sentence-embedding model, which this project does not
ship. Asking for it is an unknown-evaluator error.
"""

from cases.shapes import ShapeError

from .base import (
    Evaluator,
    EvaluatorConfigError,
    EvaluatorConflict,
    Example,
    GroundTruthError,
    Param,
    Verdict,
)
from .registry import (
    DEFAULT_EVALUATORS,
    FALLBACK_EVALUATOR,
    REGISTRY,
    EvaluatorSpec,
    default_evaluator_for,
    failed_call_verdict,
    get_evaluator,
    installed_evaluators,
    parse_evaluator_spec,
    run_evaluator,
    validate_params,
)
from .text import normalize_text

__all__ = [
    "DEFAULT_EVALUATORS",
    "FALLBACK_EVALUATOR",
    "REGISTRY",
    "installed_evaluators",
    "Evaluator",
    "EvaluatorConfigError",
    "EvaluatorConflict",
    "EvaluatorSpec",
    "Example",
    "GroundTruthError",
    "Param",
    "ShapeError",
    "Verdict",
    "default_evaluator_for",
    "failed_call_verdict",
    "get_evaluator",
    "normalize_text",
    "parse_evaluator_spec",
    "run_evaluator",
    "validate_params",
]
