"""Golden-set versions: freezing, diffing, and what case revisions cost writes.

    make bench                                         # all benchmarks
    BENCH_VERSION_CASES=1000000 python benchmarks/bench_versions.py

1. Revisions on writes: `manage.py import_cases` of BENCH_REVISION_IMPORT realistic cases
   (bench_cases' generator) with the revision triggers disabled, then enabled, alternating,
   best of BENCH_ROUNDS each (goal: within 20 %); the same for one bulk UPDATE of every case's
   category (the set-based path bulk actions take; there the triggers do write revisions).
2. Freeze: BENCH_VERSION_CASES cases (plain SQL rows), frozen as a version through
   versions.freezing.freeze, against a bare INSERT ... SELECT of the same (id, revision) pairs
   into an unindexed table (goal: under 10 s and at most 2x the bare statement).
3. Diff: 1 % of the cases edited, a second version frozen, the two diffed with
   versions.freezing.diff (goal: under 5 s).

Prints one JSON document. It empties test_cases and the versions tables (TRUNCATE): run it on
a benchmark database only.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cases  # noqa: E402
from _common import env_int, report  # noqa: E402
from django.db import connection  # noqa: E402

BULK_UPDATE = "UPDATE test_cases SET category = category || '-x', updated_at = now()"
TRIGGERS = ("versions_bump_revision", "versions_keep_updated", "versions_keep_deleted")


def sql(statement: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def empty() -> None:
    sql("TRUNCATE test_cases, case_revisions, version_cases, versions CASCADE")
    sql("VACUUM ANALYZE test_cases")


def revision_triggers(enabled: bool) -> None:
    for name in TRIGGERS:
        sql(f"ALTER TABLE test_cases {'ENABLE' if enabled else 'DISABLE'} TRIGGER {name}")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def revisions_cost(n: int, rounds: int) -> dict:
    """Import and bulk-update seconds with the triggers off and on, best of `rounds` each."""
    seconds: dict[str, list[float]] = {"import_off": [], "import_on": [], "bulk_off": [],
                                       "bulk_on": []}  # fmt: skip
    written = 0
    with tempfile.TemporaryDirectory(prefix="mleval-bench-") as tmp:
        path = Path(tmp) / "cases.jsonl"
        bench_cases.generate(path, n)
        try:
            for round_no in range(rounds):
                for on in (False, True) if round_no % 2 == 0 else (True, False):
                    empty()
                    revision_triggers(on)
                    label = "on" if on else "off"
                    seconds[f"import_{label}"].append(
                        bench_cases.run_child("import", path)["seconds"]
                    )
                    sql("VACUUM ANALYZE test_cases")
                    seconds[f"bulk_{label}"].append(
                        timed(lambda: sql(BULK_UPDATE))  # fmt: skip
                    )
                    if on:  # the bulk update's revisions (one per case), checked below
                        written = _count("case_revisions")
        finally:
            revision_triggers(True)
    best = {key: min(values) for key, values in seconds.items()}
    return {
        "cases": n,
        "rounds": rounds,
        "import_without_revisions_s": round(best["import_off"], 2),
        "import_with_revisions_s": round(best["import_on"], 2),
        "import_ratio": round(best["import_on"] / best["import_off"], 3),
        "bulk_update_without_revisions_s": round(best["bulk_off"], 2),
        "bulk_update_with_revisions_s": round(best["bulk_on"], 2),
        "bulk_update_ratio": round(best["bulk_on"] / best["bulk_off"], 3),
        "revisions_written_by_the_bulk_update": written,
    }


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def fill(n: int) -> float:
    """n small golden cases in plain SQL (the import path is measured above, not here)."""
    empty()

    def insert():
        sql(
            """
            INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, output_type,
                                    model_type, category, tags, origin, is_verified)
            SELECT jsonb_build_object('text', 'case ' || i), 'text', '',
                   jsonb_build_object('label', CASE WHEN i %% 2 = 0 THEN 'pos' ELSE 'neg' END),
                   'classification', 'nlp', 'c' || (i %% 50), ARRAY['t' || (i %% 7)], 'human', true
            FROM generate_series(1, %s) AS i
            """,
            [n],
        )
        sql("VACUUM ANALYZE test_cases")

    return timed(insert)


def freeze_and_diff(n: int) -> dict:
    from versions import freezing

    figures: dict = {"cases": n, "fill_s": round(fill(n), 1)}
    selection = {"scope": "all"}
    pairs_sql, params = freezing.selection_pairs_sql(selection)
    sql("DROP TABLE IF EXISTS bench_bare_pairs")
    sql("CREATE TABLE bench_bare_pairs (version_id bigint, case_id bigint, revision integer)")
    try:
        bare = timed(
            lambda: sql(
                f"INSERT INTO bench_bare_pairs SELECT 0, id, live_revision FROM ({pairs_sql}) s",
                params,
            )
        )
    finally:
        sql("DROP TABLE bench_bare_pairs")
    versions = {}
    frozen = timed(
        lambda: versions.setdefault("a", freezing.freeze("bench a", selection=selection))
    )
    start = time.perf_counter()
    edited = sql('UPDATE test_cases SET ground_truth = \'{"label": "fixed"}\' WHERE id % 100 = 0')
    figures["edit_1pc_s"] = round(time.perf_counter() - start, 2)
    versions["b"] = freezing.freeze("bench b", selection=selection)
    result = {}
    diff_s = timed(lambda: result.setdefault("diff", freezing.diff(versions["a"], versions["b"])))
    diff = result["diff"]
    figures.update(
        bare_insert_select_s=round(bare, 2),
        freeze_s=round(frozen, 2),
        freeze_vs_bare=round(frozen / bare, 2),
        freeze_goal_met=frozen < 10 and frozen <= 2 * bare,
        diff_s=round(diff_s, 2),
        diff_changed=len(diff.changed),
        diff_changed_expected=edited,
        diff_goal_met=diff_s < 5 and len(diff.changed) == edited,
    )
    return figures


def main() -> None:
    figures = {
        "revisions": revisions_cost(
            env_int("BENCH_REVISION_IMPORT", 50_000), env_int("BENCH_ROUNDS", 2)
        ),
        "versions": freeze_and_diff(env_int("BENCH_VERSION_CASES", 1_000_000)),
    }
    figures["revisions"]["goal_met"] = figures["revisions"]["import_ratio"] <= 1.2
    empty()
    report("versions", figures)


if __name__ == "__main__":
    main()
