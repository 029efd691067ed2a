"""Tables with their own column names and Parquet: what a column mapping and Parquet cost.

    make bench                                       # all benchmarks
    BENCH_TABLE_CASES=200000 python benchmarks/bench_tables.py

BENCH_TABLE_CASES (default 100,000) hub-style rows (idx, sentence, label, topic, keywords,
source) are written three ways: mleval's own JSONL (the baseline: no mapping), a CSV and a
Parquet file with the hub's column names. Each is imported by `manage.py import_cases` in its
own process (the CSV and Parquet through `--map`/`--value` flags), into the emptied table, best
of BENCH_ROUNDS; then the cases are exported as JSONL and as Parquet (`export_cases`), each in
its own process. Seconds, rows per second and peak resident memory (VmHWM) per step: the
Parquet export's peak should not grow with the number of cases (one row group at a time).

Prints one JSON document. It empties test_cases (TRUNCATE): run it on a benchmark database.
"""

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cases  # noqa: E402
from _common import env_int, report  # noqa: E402
from django.db import connection  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAPPING = [
    "--map", "external_id=idx", "--map", "input_data.text=sentence", "--map", "ground_truth=label",
    "--map", "category=topic", "--map", "tags=keywords", "--map", "metadata=source",
    "--value", "input_type=text", "--value", "output_type=classification",
    "--value", "model_type=nlp",
]  # fmt: skip
WORDS = "the kettle blender is great awful broken lovely fine meh would buy again never".split()


def rows(n: int):
    rng = random.Random(20261128)
    for i in range(n):
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
        yield {
            "idx": f"hub-{i}",
            "sentence": sentence,
            "label": rng.choice(("positive", "negative", "neutral")),
            "topic": rng.choice(("kitchen", "garden", "books")),
            "keywords": ";".join(rng.sample(("en", "short", "long", "verified-buyer"), 2)),
            "source": rng.choice(("reviews-2024", "reviews-2025")),
        }


def write_files(folder: Path, n: int) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = {f: folder / f"cases.{f}" for f in ("jsonl", "csv", "parquet")}
    columns: dict[str, list] = {name: [] for name in next(rows(1))}
    with paths["jsonl"].open("w") as jsonl, paths["csv"].open("w", newline="") as csv_file:
        import csv

        writer = csv.DictWriter(csv_file, fieldnames=list(columns))
        writer.writeheader()
        for row in rows(n):
            writer.writerow(row)
            for name, value in row.items():
                columns[name].append(value)
            case = {
                "input_data": {"text": row["sentence"]},
                "input_type": "text",
                "ground_truth": {"label": row["label"]},
                "output_type": "classification",
                "model_type": "nlp",
                "category": row["topic"],
                "tags": row["keywords"].split(";"),
                "metadata": {"source": row["source"]},
                "external_id": row["idx"],
            }
            jsonl.write(json.dumps(case) + "\n")
    pq.write_table(pa.table(columns), paths["parquet"], row_group_size=50_000)
    return paths


def child(args: list[str]) -> None:
    """In a child process: call_command(*args); prints seconds and peak memory."""
    from django.core.management import call_command

    start = time.perf_counter()
    call_command(*args, stdout=sys.stderr, stderr=sys.stderr)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": bench_cases._peak_mb()}))


def run_child(args: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE test_cases CASCADE")
        cursor.execute("VACUUM ANALYZE test_cases")


def figures(result: dict, n: int) -> dict:
    return {
        "seconds": round(result["seconds"], 2),
        "rows_per_s": round(n / result["seconds"]),
        "peak_mb": result["peak_mb"],
    }


def main() -> None:
    n = env_int("BENCH_TABLE_CASES", 100_000)
    rounds = env_int("BENCH_ROUNDS", 2)
    out: dict = {"cases": n, "rounds": rounds, "imports": {}, "exports": {}}
    with tempfile.TemporaryDirectory(prefix="mleval-bench-") as tmp:
        paths = write_files(Path(tmp), n)
        out["file_mb"] = {f: round(p.stat().st_size / 2**20, 1) for f, p in paths.items()}
        steps = {
            "jsonl_native": ["import_cases", str(paths["jsonl"])],
            "csv_mapped": ["import_cases", str(paths["csv"]), *MAPPING],
            "parquet_mapped": ["import_cases", str(paths["parquet"]), *MAPPING],
        }
        best: dict[str, dict] = {}
        for _ in range(rounds):
            for name, args in steps.items():
                empty()
                result = run_child(args)
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
        for name, result in best.items():
            out["imports"][name] = figures(result, n)
        base = best["jsonl_native"]["seconds"]
        for name in ("csv_mapped", "parquet_mapped"):
            out["imports"][name]["vs_jsonl_native"] = round(best[name]["seconds"] / base, 2)
        for file_format in ("jsonl", "parquet"):
            target = Path(tmp) / f"export.{file_format}"
            result = run_child(["export_cases", str(target), "--all"])
            out["exports"][file_format] = {
                **figures(result, n),
                "file_mb": round(target.stat().st_size / 2**20, 1),
            }
    empty()
    report("tables", out)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
