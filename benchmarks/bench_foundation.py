"""Inserting cases: the seed's 1,000-case goal and 200,000 cases through the project's bulk
paths — `bulk_create` (the seed's) and `cases.importing` (imports, the API's bulk create: it
validates every field and COPYs) — each next to raw psycopg COPY of the same rows into the same
indexed table, in the same run.

    make bench            # or: BENCH_BULK_CASES=50000 python benchmarks/bench_foundation.py
"""

import io
import itertools
import json

from _common import env_int, report, timed
from django.db import connection, transaction

from cases.demo_data import demo_cases
from cases.importing import import_cases
from cases.models import TestCase

COLUMNS = (
    "input_data", "input_type", "input_format", "ground_truth", "output_type", "model_type",
    "category", "tags", "difficulty", "origin", "is_verified", "metadata",
)  # fmt: skip


DEFAULTS = {"origin": "human", "is_verified": True, "tags": []}


def make_rows(n: int) -> list[dict]:
    base = demo_cases(per_domain=40)
    rows = []
    for i, case in zip(range(n), itertools.cycle(base), strict=False):
        rows.append({**case, "metadata": {**case["metadata"], "seed_key": f"bench-{i}"}})
    return rows


def truncate() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE test_cases CASCADE")


def orm_bulk_insert(rows: list[dict]) -> None:
    with transaction.atomic():
        TestCase.objects.bulk_create((TestCase(**row) for row in rows), batch_size=2000)


def importer(rows: list[dict]) -> None:
    jsonl = io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    report = import_cases(jsonl, file_format="jsonl")
    assert not report.errors, report.errors[:3]


def raw_copy(rows: list[dict]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY test_cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row[c])
                        if c in ("input_data", "ground_truth", "metadata")
                        else row.get(c, DEFAULTS.get(c, ""))
                        for c in COLUMNS
                    ]
                )


def measure(rows: list[dict], label: str, figures: dict) -> None:
    n = len(rows)
    truncate()
    with timed(figures, f"{label}_orm_bulk_create_s"):
        orm_bulk_insert(rows)
    assert TestCase.objects.count() == n
    truncate()
    with timed(figures, f"{label}_importer_s"):
        importer(rows)
    assert TestCase.objects.count() == n
    truncate()
    with timed(figures, f"{label}_raw_copy_s"):
        raw_copy(rows)
    assert TestCase.objects.count() == n
    copy = figures[f"{label}_raw_copy_s"]
    figures[f"{label}_copy_cases_per_s"] = round(n / copy)
    for path in ("orm_bulk_create", "importer"):
        seconds = figures[f"{label}_{path}_s"]
        figures[f"{label}_{path}_cases_per_s"] = round(n / seconds)
        figures[f"{label}_{path}_vs_copy"] = round(copy / seconds, 2)


def main() -> None:
    bulk = env_int("BENCH_BULK_CASES", 200_000)
    figures: dict = {"cases_small": 1000, "cases_bulk": bulk}
    measure(make_rows(1000), "small", figures)
    figures["small_goal_under_5s"] = figures["small_orm_bulk_create_s"] < 5
    measure(make_rows(bulk), "bulk", figures)
    truncate()
    report("foundation_insert_cases", figures)


if __name__ == "__main__":
    main()
