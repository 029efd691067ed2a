"""What the report modules share: the cursor they read through, rates, the ``run`` block.

Kept small on purpose: each figure lives in the module that computes it (the per-run figures
in :mod:`evaluations.reports.figures`), only the plumbing is here.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connections

from mleval_site.db_router import read_alias
from runs.models import ModelRun

#: Which evaluator's verdicts feed each domain block of the report.
DOMAIN_EVALUATORS = {
    "classification": "label_match",
    "detection": "iou",
    "ranking": "ndcg_at_k",
    "forecast": "forecast_error",
}
#: The test-case fields a report breaks down by, in the report's order.
SLICE_DIMENSIONS = ("category", "difficulty", "model_type", "tag")

# Unnesting a case's tags repeats its row once per tag; `first` marks the row to count for
# everything that is not the tag breakdown (a case without tags keeps one row, tag null).
TAGS_LATERAL = "LEFT JOIN LATERAL unnest(tc.tags) WITH ORDINALITY AS t(tag, position) ON true"


def fetch(sql: str, params: dict[str, Any]) -> list[tuple]:
    """Rows of one statement, on the read replica inside ``reading_from_replica`` (the public
    report functions), else on the default database."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def rate(numerator: float, denominator: float) -> float:
    """A fraction, 0.0 for an empty denominator (the report's convention for a pass rate)."""
    return float(numerator) / float(denominator) if denominator else 0.0


def float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def run_summary(run: ModelRun) -> dict:
    """The ``run`` block shared by the report, the comparison, the leaderboard and history."""
    return {
        "id": run.pk,
        "model_name": run.model_name,
        "model_version": run.model_version,
        "model_type": run.model_type,
        "status": run.status,
        "total_cases": run.total_cases,
        "completed_cases": run.completed_cases,
        "failed_cases": run.failed_cases,
        "selection": run.config.get("selection"),
        "cases_per_call": run.cases_per_call,  # None unless the endpoint kind batches
        "version": run.version.as_ref() if run.version_id else None,
        "created_at": run.created_at.isoformat() if run.created_at else None,
    }


def selection_label(selection: Any) -> str:
    """A short human reading of a run's recorded selection, e.g. ``category=sentiment``."""
    if not selection:
        return "no selection recorded"
    if not isinstance(selection, dict):
        return json.dumps(selection)
    parts = []
    for key in sorted(selection):
        value = selection[key]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " · ".join(parts)
