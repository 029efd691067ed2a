"""Extension points for apps built on evaluations (it imports none of them).

- Report blocks: ``register_report_block(name, compute)`` adds ``name: compute(run)`` to every
  run report's figures (stored in the run summary like the rest, so ``compute`` must read only
  the run's own data: responses, their cases and verdicts). grading adds ``agreement``.
- Trust: ``register_trust(provider)``; ``provider()`` answers ``{evaluator_type: {"status":
  "trusted" | "untrusted" | "unmeasured", "reason": str, ...}}`` for the evaluators it has
  measured, and the report and comparison mark every pass rate with it (``trust_of``).
  grading registers the agreement of each evaluator with people.
- Verdict sources: ``register_verdict_source(name, ...)`` names an evaluator_type another app
  writes (grading's ``human``): /evaluators/ lists it, it is never chosen for scoring.
All are registered from an AppConfig.ready(); with none registered nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_BLOCKS: dict[str, Callable[[Any], Any]] = {}
_TRUST: list[Callable[[], dict[str, dict]]] = []
_SOURCES: dict[str, dict[str, str]] = {}


def register_report_block(name: str, compute: Callable[[Any], Any]) -> None:
    _BLOCKS[name] = compute


def extension_block_names() -> list[str]:
    return list(_BLOCKS)


def extension_blocks(run) -> dict[str, Any]:
    """The registered blocks of the run's report."""
    return {name: compute(run) for name, compute in _BLOCKS.items()}


def register_verdict_source(
    name: str, *, description: str, passed_when: str, url_name: str
) -> None:
    _SOURCES[name] = {
        "name": name,
        "description": description,
        "passed_when": passed_when,
        "url_name": url_name,
    }


def verdict_sources() -> list[dict[str, str]]:
    """The evaluator_types other apps write (not computed here), for /evaluators/."""
    return list(_SOURCES.values())


def register_trust(provider: Callable[[], dict[str, dict]]) -> None:
    if provider not in _TRUST:
        _TRUST.append(provider)


def trust_enabled() -> bool:
    return bool(_TRUST)


UNMEASURED = {"status": "unmeasured", "reason": "not yet checked against human grades"}


def known_trust() -> dict[str, dict]:
    """Every evaluator some provider has measured, with its trust."""
    known: dict[str, dict] = {}
    for provider in _TRUST:
        known.update(provider())
    return known


def trust_of(evaluators, known: dict[str, dict] | None = None) -> dict[str, dict]:
    """{evaluator: its trust} for `evaluators`; "unmeasured" where no provider knows it.
    Empty when no provider is registered (nothing to say)."""
    evaluators = list(evaluators)
    if not _TRUST or not evaluators:
        return {}
    known = known_trust() if known is None else known
    return {name: known.get(name, UNMEASURED) for name in evaluators}


#: What an evaluator's trust says in the report's and comparison's JSON (and the API).
TRUST_FIELDS = ("status", "reason", "kappa", "kappa_low", "n")
#: Verdict sources judged by people themselves: no trust to state (they are the reference).
_REFERENCE = {"human"}


def trust_block(evaluators) -> dict[str, dict]:
    """The report's and comparison's ``trust``: per automatic evaluator its status (trusted,
    untrusted, unmeasured), why, and the kappa lower bound and number of graded responses it
    rests on (null / 0 when not measured). ``{}`` when no provider is registered."""
    trust = trust_of([name for name in evaluators if name not in _REFERENCE])
    return {
        name: {field: value.get(field, 0 if field == "n" else None) for field in TRUST_FIELDS}
        for name, value in trust.items()
    }


def untrusted_changes(evaluators: dict[str, dict], trust: dict[str, dict], alpha: float) -> list:
    """The comparison's significant pass-rate changes (McNemar p < alpha) that rest on a judge
    people do not trust or have not checked: what the page warns of, for the JSON."""
    said = {"untrusted": "agrees poorly with people", "unmeasured": "not checked against people"}
    found = []
    for name, figures in evaluators.items():
        status = trust.get(name, {}).get("status")
        p = figures.get("mcnemar_p")
        if status in said and p is not None and p < alpha:
            change = "regression" if figures["pass_rate_delta"] < 0 else "improvement"
            found.append(
                {
                    "evaluator": name,
                    "change": change,
                    "mcnemar_p": p,
                    "trust": status,
                    "message": f"The significant {change} rests on {name}, which {said[status]}.",
                }
            )
    return found
