"""What the report modules share: the cursor they read through, rates, the ``run`` block.

Kept small on purpose: each figure lives in the module that computes it (the per-run figures
in :mod:`evaluations.reports.figures`), only the plumbing is here.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import psycopg
from django.db import connections
from psycopg.adapt import Loader
from psycopg.pq import Format

from mleval_site.db_router import read_alias
from runs.models import ModelRun

#: Which evaluator's verdicts feed each domain block of the report.
DOMAIN_EVALUATORS = {
    "classification": "label_match",
    "detection": "iou",
    "ranking": "ndcg_at_k",
    "forecast": "forecast_error",
    "regression": "numeric_tolerance",
    "multilabel": "multilabel_f1",
}
#: The test-case fields a report breaks down by, in the report's order.
SLICE_DIMENSIONS = ("category", "difficulty", "model_type", "tag")

# Unnesting a case's tags repeats its row once per tag; `first` marks the row to count for
# everything that is not the tag breakdown (a case without tags keeps one row, tag null).
TAGS_LATERAL = "LEFT JOIN LATERAL unnest(tc.tags) WITH ORDINALITY AS t(tag, position) ON true"


def fetch(
    sql: str, params: dict[str, Any], *, settings: dict[str, str] | None = None
) -> list[tuple]:
    """Rows of one statement, on the read replica inside ``reading_from_replica`` (the public
    report functions), else on the default database.

    ``settings``: PostgreSQL settings for this statement only, e.g. more ``work_mem`` for one
    that groups millions of rows. They go as ``SET LOCAL`` in the same query string: PostgreSQL
    runs a string of several statements as one transaction (or inside the caller's), so they
    end with it; one round trip, and no setting outlives the request's transaction.
    """
    prefix = "".join(
        f"SET LOCAL {_setting_name(name)} = '{_setting_value(value)}'; "
        for name, value in (settings or {}).items()
    )
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(prefix + sql, params)
        for _ in settings or ():
            cursor.nextset()  # past each SET's empty result
        return cursor.fetchall()


class _ArrayLoader(Loader):
    """A one-dimensional PostgreSQL array without nulls, in binary, as a numpy array: each
    element is its 4-byte length then its value, so the whole array is one frombuffer."""

    format = Format.BINARY
    dtype: np.dtype

    def load(self, data: Any) -> np.ndarray:
        if len(data) <= 12:  # no dimensions: the empty array
            return np.empty(0, dtype=self.dtype.newbyteorder("="))
        rows = np.frombuffer(data, dtype=np.dtype([("n", ">i4"), ("v", self.dtype)]), offset=20)
        return rows["v"].astype(self.dtype.newbyteorder("="))


class _Float8Array(_ArrayLoader):
    dtype = np.dtype(">f8")


class _Int4Array(_ArrayLoader):
    dtype = np.dtype(">i4")


class _BoolArray(_ArrayLoader):
    dtype = np.dtype("?")


# float8[], int4[] and bool[] by type oid.
_ARRAY_LOADERS = {1022: _Float8Array, 1007: _Int4Array, 1000: _BoolArray}


def fetch_arrays(sql: str, params: dict[str, Any]) -> tuple:
    """The one row of a statement of ``array_agg`` columns, each a numpy array (a NULL, the
    aggregate of no rows, an empty one). Read in binary: a million scores arrive in about
    the time PostgreSQL takes to aggregate them, where text would take three times that.
    The arrays must not hold nulls. Goes through Django's cursor wrapper, so the statement is
    logged and counted like any other."""
    db = connections[read_alias()]
    db.ensure_connection()
    raw = psycopg.Cursor(db.connection)  # server-side binding: binary results
    raw.format = Format.BINARY
    for oid, loader in _ARRAY_LOADERS.items():
        raw.adapters.register_loader(oid, loader)
    with db._prepare_cursor(raw) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return tuple(np.empty(0) if value is None else value for value in row)


def _setting_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a setting name: {name!r}")
    return name


def _setting_value(value: str) -> str:
    if not value.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"not a plain setting value: {value!r}")
    return value


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
