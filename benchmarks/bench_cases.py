"""Curation at scale: import_cases against raw psycopg COPY, and the case list's cost at 10,000
cases against the same pages at BENCH_CASES cases, in the same run.

    make bench                                   # BENCH_CASES defaults to 200,000 (see below)
    BENCH_CASES=1000000 python benchmarks/bench_cases.py      # the issue's full size

1. Writes BENCH_CASES realistic cases (the demo domains, varied) as JSONL.
2. Imports the first 10,000 with `manage.py import_cases` and keeps a copy of that database.
3. Loads all BENCH_CASES twice into the emptied, indexed table: raw psycopg COPY of the same
   rows, then `manage.py import_cases` (each in its own process, so peak memory is its own).
4. Times the pages (default view, a tag filter, a JSON key filter, a text search, a deep page,
   the admin changelist) on both sizes, the 10,000-case copy and the full table, in
   alternating rounds. Each page: server time (the test client, in process), database
   time (all its queries, and those on test_cases), and the bare SQL that fetches its rows;
   best of 15 runs (the median too), so other work on the machine disturbs the ratios least.

The default is 200,000 cases (about 2.5 minutes on 2 cores); the full million takes about 6;
goals are judged at whatever size ran.
"""

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL = 10_000
REPEAT = 15
COPY_COLUMNS = (
    "input_data", "input_type", "input_format", "ground_truth", "output_type", "model_type",
    "category", "tags", "difficulty", "origin", "is_verified", "metadata",
)  # fmt: skip
LIST_COLUMNS = (
    "id, input_data, input_type, input_format, ground_truth, output_type, model_type, category, "
    "tags, difficulty, origin, is_verified, metadata, created_by_id, created_at, updated_at"
)
GOLDEN = "origin = 'human' AND is_verified"


def child_import(path: str) -> None:
    """In a child process: `manage.py import_cases PATH`; prints seconds and peak memory."""
    from django.core.management import call_command

    start = time.perf_counter()
    call_command("import_cases", path, stdout=sys.stderr)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb()}))


def child_raw_copy(path: str) -> None:
    """In a child process: the least a program can do, parse each line and COPY it."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    sql = f"COPY test_cases ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    start = time.perf_counter()
    dumps = json.dumps
    with raw.transaction(), raw.cursor() as cursor, cursor.copy(sql) as copy:
        copy.set_types(["text"] * 7 + ["text[]", "text", "text", "bool", "text"])
        with open(path, "rb") as source:
            for line in source:
                r = json.loads(line)
                copy.write_row(
                    (
                        dumps(r["input_data"]),
                        r["input_type"],
                        r.get("input_format", ""),
                        dumps(r["ground_truth"]),
                        r["output_type"],
                        r.get("model_type", ""),
                        r.get("category", ""),
                        r.get("tags", []),
                        r.get("difficulty", ""),
                        r.get("origin", "human"),
                        r.get("is_verified", r.get("origin", "human") == "human"),
                        dumps(r.get("metadata", {})),
                    )
                )
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: the latter carries the
    parent's peak across fork and exec, the former starts afresh with the program."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def generate(path: Path, n: int) -> None:
    """n realistic cases: the demo domains with their noise, ~8% ai-generated awaiting review."""
    from cases import demo_data

    domains = (
        demo_data.image_classification,
        demo_data.object_detection,
        demo_data.sentiment,
        demo_data.extractive_qa,
        demo_data.forecast,
        demo_data.recommender,
        demo_data.tabular,
        demo_data.llm,
    )
    rng = random.Random(20261122)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < n:
            for domain in domains:
                for case in domain(rng, 50):
                    if written >= n:
                        break
                    if case["output_type"] == "ranking" and not case["ground_truth"]["relevant"]:
                        continue  # the demo sometimes draws no relevant item: not a valid case
                    case["metadata"]["seed_key"] = f"bench-{written}"
                    if rng.random() < 0.08:
                        case.update(origin="ai-generated", is_verified=False)
                        case["tags"] = [*case["tags"], "synthetic"]
                    elif rng.random() < 0.02:
                        case["is_verified"] = False
                    out.write(json.dumps(case))
                    out.write("\n")
                    written += 1


def head(path: Path, n: int, target: Path) -> None:
    with path.open("rb") as source, target.open("wb") as out:
        for i, line in enumerate(source):
            if i >= n:
                break
            out.write(line)


def run_child(mode: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, f"--{mode}", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def truncate_and_vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE test_cases CASCADE")


@contextmanager
def query_timer(totals: dict):
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - start
            totals["all"] += elapsed
            if "test_cases" in sql:
                totals["cases"] += elapsed

    with connection.execute_wrapper(wrapper):
        yield


def best_ms(samples: list[float]) -> float:
    """The fastest of the runs: the page's own cost, least disturbed by other work on the
    machine (the median is reported next to it)."""
    return round(min(samples) * 1000, 2)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def pages() -> dict[str, tuple[str, str]]:
    """name -> (URL, bare SQL fetching the same rows). The deep page starts mid-table."""
    from django.db import connection

    from mleval_site.pagination import encode_cursor

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM test_cases WHERE {GOLDEN} ORDER BY id LIMIT 1 OFFSET ("
                       f"SELECT count(*) / 2 FROM test_cases WHERE {GOLDEN})")  # fmt: skip
        middle = cursor.fetchone()[0]
    json_match = (
        '(input_data @> \'{"lang": "en"}\' OR ground_truth @> \'{"lang": "en"}\' '
        'OR metadata @> \'{"lang": "en"}\')'
    )
    text = "search_vector @@ websearch_to_tsquery('simple'::regconfig, 'blender')"

    def bare(where: str, limit: int = 51) -> str:
        return f"SELECT {LIST_COLUMNS} FROM test_cases WHERE {where} ORDER BY id DESC LIMIT {limit}"

    return {
        "default": ("/cases/", bare(GOLDEN)),
        "tag": ("/cases/?tags=sarcasm", bare(f"{GOLDEN} AND tags && ARRAY['sarcasm']::varchar[]")),
        "json": ("/cases/?json=lang%3Den", bare(f"{GOLDEN} AND {json_match}")),
        "text": ("/cases/?q=blender", bare(f"{GOLDEN} AND {text}")),
        "deep": (
            f"/cases/?after={encode_cursor([middle])}",
            bare(f"{GOLDEN} AND id < {middle}"),
        ),
        "admin": (
            "/admin/cases/testcase/",
            f"SELECT {LIST_COLUMNS} FROM test_cases ORDER BY id DESC LIMIT 50",
        ),
    }


def use_database(name: str) -> None:
    """Point Django's default connection at another database of the same server."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def server_sql(sql: str) -> None:
    """Run a statement outside any database (CREATE / DROP DATABASE)."""
    import psycopg
    from django.db import connection

    params = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as admin:
        admin.execute(sql)


def snapshot_database(source: str, target: str) -> None:
    """`target` becomes a copy of `source` (the 10,000-case table, kept for interleaved timing)."""
    from django.db import connection

    connection.close()
    server_sql(f'DROP DATABASE IF EXISTS "{target}"')
    server_sql(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def time_pages(databases: dict[str, str]) -> dict[str, dict]:
    """Page figures per database label. Rounds alternate between the databases, so load from
    other work on the machine falls on both sizes alike."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    clients, urls = {}, {}
    for label, name in databases.items():
        use_database(name)
        user, _ = User.objects.get_or_create(
            username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        clients[label] = Client()
        clients[label].force_login(user)
        urls[label] = pages()
    samples = {
        label: {page: {"server": [], "all": [], "cases": [], "bare": []} for page in urls[label]}
        for label in databases
    }
    for attempt in range(REPEAT + 1):
        for label, name in databases.items():
            use_database(name)
            clients[label].get("/cases/")  # reconnects and warms up after the switch
            for page, (url, sql) in urls[label].items():
                totals = {"all": 0.0, "cases": 0.0}
                with query_timer(totals):
                    start = time.perf_counter()
                    response = clients[label].get(url)
                    elapsed = time.perf_counter() - start
                assert response.status_code == 200, (url, response.status_code)
                with connection.cursor() as cursor:
                    start = time.perf_counter()
                    cursor.execute(sql)
                    cursor.fetchall()
                    bare_elapsed = time.perf_counter() - start
                if attempt:  # the first round warms caches
                    kept = samples[label][page]
                    kept["server"].append(elapsed)
                    kept["all"].append(totals["all"])
                    kept["cases"].append(totals["cases"])
                    kept["bare"].append(bare_elapsed)
    return {
        label: {
            page: {
                "server_ms": best_ms(kept["server"]),
                "server_median_ms": median_ms(kept["server"]),
                "db_ms": best_ms(kept["all"]),
                "db_cases_ms": best_ms(kept["cases"]),
                "bare_sql_ms": best_ms(kept["bare"]),
            }
            for page, kept in by_page.items()
        }
        for label, by_page in samples.items()
    }


def main() -> None:
    from _common import env_int, report

    n = env_int("BENCH_CASES", 200_000)
    figures: dict = {"cases": n}
    with tempfile.TemporaryDirectory(prefix="mleval-bench-") as tmp:
        full, small = Path(tmp) / "cases.jsonl", Path(tmp) / "cases-10k.jsonl"
        start = time.perf_counter()
        generate(full, n)
        figures["generate_seconds"] = round(time.perf_counter() - start, 1)
        figures["file_mb"] = round(full.stat().st_size / 2**20, 1)
        head(full, SMALL, small)

        from django.db import connection

        main_db = connection.settings_dict["NAME"]
        small_db = f"{main_db}_10k"[:63]
        truncate_and_vacuum()
        # No ANALYZE of our own: import_cases leaves the statistics current (jobs.signals),
        # so the pages are timed as the first user after an import gets them.
        run_child("import", small)
        snapshot_database(main_db, small_db)
        try:
            truncate_and_vacuum()
            raw = run_child("raw-copy", full)
            truncate_and_vacuum()
            imported = run_child("import", full)
            timed_pages = time_pages({"small": small_db, "full": main_db})
        finally:
            use_database(main_db)
            connection.close()
            server_sql(f'DROP DATABASE IF EXISTS "{small_db}"')
        at_small, at_full = timed_pages["small"], timed_pages["full"]

    figures["raw_copy"] = {
        "cases_per_s": round(n / raw["seconds"]),
        "seconds": round(raw["seconds"], 1),
        "peak_mb": raw["peak_mb"],
    }
    figures["import_cases"] = {
        "cases_per_s": round(n / imported["seconds"]),
        "seconds": round(imported["seconds"], 1),
        "peak_mb": imported["peak_mb"],
    }
    speed = raw["seconds"] / imported["seconds"]
    figures["import_vs_raw_rate"] = round(speed, 2)
    figures["pages"] = {}
    for name in at_small:
        small_page, full_page = at_small[name], at_full[name]
        figures["pages"][name] = {
            f"at_{SMALL}": small_page,
            f"at_{n}": full_page,
            "server_growth": round(full_page["server_ms"] / small_page["server_ms"], 2),
            "db_cases_vs_bare_sql": round(
                full_page["db_cases_ms"] / max(full_page["bare_sql_ms"], 0.01), 2
            ),
        }
    case_pages = [p for name, p in figures["pages"].items() if name != "admin"]
    figures["goals"] = {
        "import_at_least_half_raw_rate": speed >= 0.5,
        "import_peak_under_300_mb": imported["peak_mb"] < 300,
        "list_pages_within_1_5x_of_10k": all(p["server_growth"] <= 1.5 for p in case_pages),
        "admin_within_1_5x_of_10k": figures["pages"]["admin"]["server_growth"] <= 1.5,
        "db_within_3x_of_bare_sql": all(p["db_cases_vs_bare_sql"] <= 3 for p in case_pages),
    }
    report("cases", figures)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if len(sys.argv) == 3 and sys.argv[1] in ("--import", "--raw-copy"):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mleval_site.settings_test")
        import _common  # noqa: F401  (django.setup())

        (child_import if sys.argv[1] == "--import" else child_raw_copy)(sys.argv[2])
    else:
        import _common  # noqa: F401

        main()
