"""The worked examples' verdicts, scored once and stored beside the code.

The /evaluators/ page shows each evaluator's example with the verdict the code gives. Scoring
them live made a process's first visit import every scoring library: rouge_score pulls in nltk,
scipy, scikit-learn and pandas, sacrebleu its own stack: 4-9 s and ~150 MB per web process for
one page. So the built-in evaluators' verdicts are computed by

    python -m evaluations.evaluators.examples

into ``example_verdicts.json``, keyed by a fingerprint of what decides the verdict (the
evaluator's version, the example, its validated params). The page uses a stored verdict only
while its fingerprint matches and scores the example live otherwise (a team's own evaluators,
an edited example), so it never shows a verdict for another example; the tests check every
stored verdict against a live one, so a scoring change without a new file fails them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from .base import Evaluator, EvaluatorConfigError, Verdict
from .registry import REGISTRY, run_evaluator

STORE = Path(__file__).with_name("example_verdicts.json")


def fingerprint(evaluator: Evaluator, params: dict[str, Any]) -> str:
    example = evaluator.example
    basis = [evaluator.name, evaluator.version, example.output, example.ground_truth, params]
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache
def stored() -> dict[str, dict[str, Any]]:
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def stored_or_live(evaluator: Evaluator, params: dict[str, Any]) -> Verdict:
    """The example's verdict: the stored one when it is for this very example, else live."""
    entry = stored().get(evaluator.name)
    if entry and entry["fingerprint"] == fingerprint(evaluator, params):
        return Verdict(**entry["verdict"])
    example = evaluator.example
    return run_evaluator(evaluator.name, example.output, example.ground_truth, params)


def live_entries(names: list[str]) -> dict[str, dict[str, Any]]:
    """Each named evaluator's example scored now, as the store holds it."""
    entries = {}
    for name in names:
        evaluator = REGISTRY[name]
        params = evaluator.validate_params(evaluator.example.params)
        example = evaluator.example
        verdict = run_evaluator(name, example.output, example.ground_truth, params)
        entries[name] = {
            "fingerprint": fingerprint(evaluator, params),
            # Through JSON, as stored: tuples become lists.
            "verdict": json.loads(
                json.dumps(
                    {
                        "score": verdict.score,
                        "passed": verdict.passed,
                        "metrics": verdict.metrics,
                        "feedback": verdict.feedback,
                    }
                )
            ),
        }
    return entries


def storable() -> list[str]:
    """The evaluators whose example this process can score: not judged (docs.py scripts the
    judge's replies), parameters valid here (an extra's evaluator without its library is not)."""
    names = []
    for name, evaluator in REGISTRY.items():
        try:
            evaluator.validate_params(evaluator.example.params)
        except EvaluatorConfigError:
            continue
        if not evaluator.judged:
            names.append(name)
    return names


def write() -> Path:
    """Score every storable evaluator's example and store the verdicts."""
    STORE.write_text(json.dumps(live_entries(storable()), indent=1, sort_keys=True) + "\n")
    stored.cache_clear()
    return STORE


if __name__ == "__main__":
    print(f"wrote {write()}")
