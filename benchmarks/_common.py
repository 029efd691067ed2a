"""Shared set-up for the benchmark scripts: Django on the benchmark database, timing, output."""

import json
import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mleval_site.settings_test")

import django  # noqa: E402

django.setup()


@contextmanager
def timed(results: dict, key: str):
    """Store the block's wall time in seconds under results[key]."""
    start = time.perf_counter()
    yield
    results[key] = round(time.perf_counter() - start, 3)


def peak_memory_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report(name: str, figures: dict) -> None:
    print(json.dumps({"benchmark": name, **figures}, indent=2))


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def official_client(base_url: str, concurrency: int):
    """The official `openai.AsyncOpenAI` client, no retries, `concurrency` pooled connections:
    the bare loop the connector and judge benchmarks compare mleval's calls with."""
    import httpx
    import openai

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        http_client=httpx.AsyncClient(limits=limits, timeout=30),
    )
