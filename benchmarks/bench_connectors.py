"""The openai: connector at scale, against the official client doing the same calls.

A local OpenAI-compatible server (tests/connectors/openai_server.py, its own process, every
reply after BENCH_DELAY_MS, default 10) and BENCH_CASES cases (default 10,000). `execute_run`
of an `openai:` run at concurrency 64 (templates rendered, replies parsed, tokens counted,
responses stored) against a bare `openai.AsyncOpenAI` loop making the same chat completions
(same model, same messages, at most 64 at once, its own 64-connection pool). Goal: >= 0.8 of
the bare loop's rate. Timings under load vary: the best of BENCH_REPEAT (default 2) interleaved
rounds of each.

    make bench     # or: BENCH_CASES=2000 python benchmarks/bench_connectors.py
"""

import asyncio
import subprocess
import sys
from pathlib import Path

from _common import env_int, official_client, peak_memory_mb, report, timed
from django.db import connection

from cases.models import TestCase
from runs.callers import ExecutionOptions
from runs.execution import execute_run
from runs.models import ModelRun, Response
from runs.selection import register_run

CONCURRENCY = 64
GOAL = 0.8
MODEL_TYPE = "bench-openai"
SERVER = Path(__file__).resolve().parent.parent / "tests" / "connectors" / "openai_server.py"
PROMPT = "Classify the sentiment of this review: {{ input_data.text }}"


def make_cases(n: int) -> list[tuple[int, str]]:
    ModelRun.objects.filter(model_type=MODEL_TYPE).delete()  # an earlier run's, on this database
    TestCase.objects.filter(model_type=MODEL_TYPE).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, "
            "output_type, model_type, category) SELECT jsonb_build_object('text', 'review ' || g "
            "|| ': great, love it'), 'text', '', '{\"label\": \"positive\"}', 'classification', "
            "%s, 'bench' FROM generate_series(1, %s) AS g",
            [MODEL_TYPE, n],
        )
        cursor.execute("VACUUM ANALYZE test_cases")
        cursor.execute(
            "SELECT id, input_data->>'text' FROM test_cases WHERE model_type = %s", [MODEL_TYPE]
        )
        return cursor.fetchall()


async def bare_loop(base_url: str, prompts: list[str]) -> int:
    """The same chat completions through the official client; returns the tokens counted."""
    client = official_client(base_url, CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    tokens = 0

    async def call(prompt: str) -> None:
        nonlocal tokens
        async with semaphore:
            reply = await client.chat.completions.create(
                model="bench",
                messages=[
                    {"role": "system", "content": "You classify reviews."},
                    {"role": "user", "content": prompt},
                ],
                temperature=0,
            )
            assert reply.choices[0].message.content
            tokens += reply.usage.prompt_tokens + reply.usage.completion_tokens

    await asyncio.gather(*(call(prompt) for prompt in prompts))
    await client.close()
    return tokens


def register(base_url: str, version: str):
    return register_run(
        model_name="bench",
        model_version=version,
        model_type=MODEL_TYPE,
        model_endpoint=f"openai:{base_url}",
        config={"system": "You classify reviews.", "prompt": PROMPT, "params": {"temperature": 0}},
    )


def main() -> None:
    n = env_int("BENCH_CASES", 10_000)
    delay_ms = env_int("BENCH_DELAY_MS", 10)
    figures: dict = {}
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--delay", str(delay_ms / 1000)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{server.stdout.readline().split()[1]}/v1"
        cases = make_cases(n)
        prompts = [f"Classify the sentiment of this review: {text}" for _, text in cases]
        asyncio.run(bare_loop(base_url, prompts[: min(500, n)]))  # warm both ends up once
        options = ExecutionOptions(concurrency=CONCURRENCY, timeout=30, retries=0)
        best: dict[str, float] = {}
        for attempt in range(env_int("BENCH_REPEAT", 2)):
            times: dict = {}
            with timed(times, "bare_openai_client_seconds"):
                bare_tokens = asyncio.run(bare_loop(base_url, prompts))
            run = register(base_url, str(attempt + 1))
            with timed(times, "execute_run_seconds"):
                summary = execute_run(run, options)
            assert summary.completed_cases == n, summary
            stored = Response.objects.filter(run=run).values_list("tokens_used", flat=True)
            assert sum(stored) == bare_tokens, "the same calls count the same tokens"
            for key, seconds in times.items():
                best[key] = min(seconds, best.get(key, seconds))
        figures.update(best)
    finally:
        server.kill()
        server.wait()
    bare_rate = n / figures["bare_openai_client_seconds"]
    mleval_rate = n / figures["execute_run_seconds"]
    figures.update(
        cases=n,
        concurrency=CONCURRENCY,
        server_delay_ms=delay_ms,
        ideal_calls_per_s=round(CONCURRENCY / (delay_ms / 1000)),
        bare_openai_client_calls_per_s=round(bare_rate),
        execute_run_calls_per_s=round(mleval_rate),
        ratio=round(mleval_rate / bare_rate, 3),
        goal=GOAL,
        goal_met=mleval_rate / bare_rate >= GOAL,
        peak_memory_mb=peak_memory_mb(),
    )
    report("connectors_openai", figures)


if __name__ == "__main__":
    main()
