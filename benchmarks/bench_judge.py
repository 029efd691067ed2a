"""llm_judge at scale: the judging pipeline against a bare official-client loop, and the cache.

A local OpenAI-compatible judge (tests/connectors/openai_server.py, its own process, every
reply a JSON verdict after BENCH_DELAY_MS, default 10) and a run of BENCH_CASES responses
(default 10,000). Three timings, each the best of BENCH_REPEAT (default 2) interleaved rounds:

- `evaluate_run` with llm_judge at concurrency 32, the judge cache emptied first: prompts
  rendered, calls made, replies cached, verdicts written;
- a bare `openai.AsyncOpenAI` loop sending the same chat completions (same messages, JSON
  mode, at most 32 at once, its own 32-connection pool). Goal: the pipeline >= 0.7x its rate;
- `evaluate_run` again on the same run: every reply from the judge cache. Goal: >= 20x faster
  than the first pass. For scale, re-scoring the same run with token_f1 (no judge at all):
  the pipeline's own cost of reading, scoring and rewriting 10,000 verdicts.

    make bench     # or: BENCH_CASES=2000 python benchmarks/bench_judge.py
"""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from _common import env_int, official_client, peak_memory_mb, report, timed
from django.db import connection

from cases.models import TestCase
from evaluations.evaluators import validate_params
from evaluations.evaluators.judge import judge_messages
from evaluations.judging.judges import resolve_judge
from evaluations.models import Evaluation, JudgeCall
from evaluations.pipeline import evaluate_run
from runs.models import ModelRun

CONCURRENCY = 32
GOAL_RATE = 0.7
GOAL_CACHE = 20.0
MODEL_TYPE = "bench-judge"
JUDGE_MODEL = "bench-judge-model"
SERVER = Path(__file__).resolve().parent.parent / "tests" / "connectors" / "openai_server.py"
VERDICT = json.dumps({"reasoning": "It gives the reference's number.", "score": 4})


def make_run(n: int) -> ModelRun:
    ModelRun.objects.filter(model_type=MODEL_TYPE).delete()  # an earlier run's, on this database
    TestCase.objects.filter(model_type=MODEL_TYPE).delete()
    run = ModelRun.objects.create(
        model_name="bench", model_version="1", model_type=MODEL_TYPE, status="completed"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, "
            "output_type, model_type, category) SELECT jsonb_build_object('text', 'How many "
            "legs has animal ' || g || '?'), 'text', '', "
            "jsonb_build_object('text', (g %% 8)::text), 'text', %s, 'bench' "
            "FROM generate_series(1, %s) AS g",
            [MODEL_TYPE, n],
        )
        cursor.execute(
            "INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, error_message) "
            "SELECT %s, id, jsonb_build_object('text', 'It has ' || (id %% 8) || ' legs.'), 5, '' "
            "FROM test_cases WHERE model_type = %s ORDER BY id",
            [run.pk, MODEL_TYPE],
        )
        cursor.execute("VACUUM ANALYZE test_cases")
        cursor.execute("VACUUM ANALYZE responses")
    return run


def judge_params(base_url: str) -> dict:
    return validate_params(
        "llm_judge",
        {
            "endpoint": f"openai:{base_url}",
            "model": JUDGE_MODEL,
            "scale": "1-5",
            "concurrency": CONCURRENCY,
            "params": {"temperature": 0},
        },
    )


def requests(run: ModelRun, params: dict) -> list[dict]:
    """The chat completions the pipeline sends for the run, made the same way."""
    judge = resolve_judge(params)
    rows = TestCase.objects.filter(responses__run=run).values_list(
        "input_data", "ground_truth", "responses__output_data"
    )
    return [judge.request(judge_messages(params["rubric"], params["scale"], *row)) for row in rows]


async def bare_loop(base_url: str, bodies: list[dict]) -> int:
    """The same chat completions through the official client; returns the verdicts read."""
    client = official_client(base_url, CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    read = 0

    async def call(body: dict) -> None:
        nonlocal read
        async with semaphore:
            reply = await client.chat.completions.create(**body)
            read += json.loads(reply.choices[0].message.content)["score"] == 4

    await asyncio.gather(*(call(body) for body in bodies))
    await client.close()
    return read


def main() -> None:
    n = env_int("BENCH_CASES", 10_000)
    delay_ms = env_int("BENCH_DELAY_MS", 10)
    figures: dict = {}
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--delay", str(delay_ms / 1000), "--reply", VERDICT],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{server.stdout.readline().split()[1]}/v1"
        run = make_run(n)
        params = judge_params(base_url)
        bodies = requests(run, params)
        spec = {"name": "llm_judge", "params": params}
        asyncio.run(bare_loop(base_url, bodies[: min(500, n)]))  # warm both ends up once
        best: dict[str, float] = {}
        for _ in range(env_int("BENCH_REPEAT", 2)):
            times: dict = {}
            with timed(times, "bare_openai_client_seconds"):
                assert asyncio.run(bare_loop(base_url, bodies)) == n
            JudgeCall.objects.filter(model=JUDGE_MODEL).delete()
            with timed(times, "llm_judge_first_pass_seconds"):
                first = evaluate_run(run, [spec])
            assert (first.judge_calls, first.judge_cached, first.judge_errors) == (n, 0, 0), first
            with timed(times, "llm_judge_from_cache_seconds"):
                again = evaluate_run(run, [spec])
            assert (again.judge_calls, again.judge_cached) == (0, n), again
            assert Evaluation.objects.filter(response__run=run, score=0.75).count() == n
            evaluate_run(run, ["token_f1"])  # then again, timed: the pipeline's own floor
            with timed(times, "token_f1_rescore_seconds"):
                evaluate_run(run, ["token_f1"])
            for key, seconds in times.items():
                best[key] = min(seconds, best.get(key, seconds))
        figures.update(best)
    finally:
        server.kill()
        server.wait()
    bare_rate = n / figures["bare_openai_client_seconds"]
    judge_rate = n / figures["llm_judge_first_pass_seconds"]
    cache_speedup = (
        figures["llm_judge_first_pass_seconds"] / figures["llm_judge_from_cache_seconds"]
    )
    figures.update(
        responses=n,
        concurrency=CONCURRENCY,
        server_delay_ms=delay_ms,
        ideal_calls_per_s=round(CONCURRENCY / (delay_ms / 1000)),
        bare_openai_client_calls_per_s=round(bare_rate),
        llm_judge_calls_per_s=round(judge_rate),
        ratio=round(judge_rate / bare_rate, 3),
        goal_ratio=GOAL_RATE,
        cache_speedup=round(cache_speedup, 1),
        cache_pass_vs_token_f1_rescore=round(
            figures["llm_judge_from_cache_seconds"] / figures["token_f1_rescore_seconds"], 2
        ),
        goal_cache_speedup=GOAL_CACHE,
        goal_met=judge_rate / bare_rate >= GOAL_RATE and cache_speedup >= GOAL_CACHE,
        peak_memory_mb=peak_memory_mb(),
    )
    report("llm_judge", figures)


if __name__ == "__main__":
    main()
