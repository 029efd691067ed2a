"""``run_experiment``: an experiment's whole loop in the user's process.

The user's function runs here (sync in a thread pool, async on an event loop), ``concurrency``
calls at a time; outputs and latencies are pushed to one run as they finish, in chunks, so a
script that dies loses at most a chunk. Called again with the same ``run``, it skips the cases
that already have a response and continues.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mleval_client.client import Client
from mleval_client.wire import MlevalError, encode_json
from mleval_client.wire import object_id as _id

PUSH_EVERY = 500  # rows per push while the experiment runs


def run_experiment(
    selection_or_version: dict | str | int | None,
    task: Callable[[dict], Any],
    evaluators: list | None = None,
    concurrency: int = 8,
    *,
    client: Client | None = None,
    run: dict | int | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    model_type: str | None = None,
    push_every: int = PUSH_EVERY,
    progress: bool | None = None,
) -> dict:
    """Run ``task(case)`` on every case, push the outputs as one run, score it and return the
    run report.

    - ``selection_or_version``: the case list's filters (a dict, e.g. ``{"category": "x"}``)
      or a golden-set version (its name or id); ignored when resuming ``run``.
    - ``task``: a function or coroutine function taking the case dict (``input_data``,
      ``ground_truth``, ``metadata``, ...) and returning the output (any JSON value). An
      exception is recorded as the case's failed call (``error_message``), not raised.
    - ``evaluators``: as ``runs.evaluate`` (None: the run's defaults per output type).
    - ``run``: a run to continue (its id or dict): cases with a response are skipped.
    - ``model_name`` (default: the task's name), ``model_version`` (default: the time),
      ``model_type`` (default: the selection's, else the first case's).
    """
    client = client or Client()
    if concurrency < 1:
        raise MlevalError("concurrency must be at least 1")
    if run is None:
        cases = _cases(client, selection_or_version)
        if not cases:
            raise MlevalError(f"no case selected by {selection_or_version!r}")
        run = _register(client, selection_or_version, cases, task, model_name, model_version,
                        model_type)  # fmt: skip
        print(f"mleval: run #{run['id']} (to resume it: run={run['id']})", file=sys.stderr)
        todo = cases
    else:
        run = client.runs.get(run)
        cases = _cases(client, run["version"]["id"] if run.get("version") else run["selection"])
        done = {response["test_case_id"] for response in client.runs.responses(run)}
        todo = [case for case in cases if case["id"] not in done]
    if todo:
        _execute(client, run, todo, task, concurrency, push_every)
    client.runs.evaluate(run, evaluators, wait=True, progress=progress)
    return client.runs.report(run, fresh=True)


def _cases(client: Client, selection_or_version: Any) -> list[dict]:
    if isinstance(selection_or_version, dict) or selection_or_version is None:
        return list(client.cases.list(**(selection_or_version or {})))
    return [case for case in client.versions.cases(selection_or_version) if not case["deleted"]]


def _register(
    client: Client,
    selection_or_version: Any,
    cases: list[dict],
    task: Callable,
    model_name: str | None,
    model_version: str | None,
    model_type: str | None,
) -> dict:
    selection = selection_or_version if not isinstance(selection_or_version, str | int) else None
    model_type = model_type or (selection or {}).get("model_type") or cases[0].get("model_type")
    if not model_type:  # a version's snapshot has no model_type: read it from the live case
        model_type = client.cases.get(cases[0]["id"])["model_type"]
    return client.runs.create(
        model_name=model_name or getattr(task, "__name__", "experiment"),
        model_version=model_version or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        model_type=model_type,
        selection=selection,
        version=_id(selection_or_version) if selection is None else None,
    )


def _execute(
    client: Client, run: dict, cases: list[dict], task: Callable, concurrency: int, every: int
) -> None:
    """Call the task on every case, ``concurrency`` at a time, pushing every ``every`` rows."""
    coroutine = inspect.iscoroutinefunction(task)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_loop(client, run, cases, task, coroutine, concurrency, every))
        return
    # Inside a running loop (a notebook): run ours in a thread of its own.
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(_loop(client, run, cases, task, coroutine, concurrency, every))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target, name="mleval-experiment")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _loop(client, run, cases, task, coroutine, concurrency, every) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    pool = None if coroutine else ThreadPoolExecutor(concurrency, "mleval-task")
    pending: list[dict] = []
    lock = asyncio.Lock()

    def timed_call(case: dict) -> dict:
        start = time.perf_counter()
        try:
            output, error = task(case), None
        except Exception as failure:  # the case's failed call, as an endpoint's would be
            output, error = None, f"{type(failure).__name__}: {failure}"
        return _row(case, output, error, start)

    async def timed_await(case: dict) -> dict:
        start = time.perf_counter()
        try:
            output, error = await task(case), None
        except Exception as failure:
            output, error = None, f"{type(failure).__name__}: {failure}"
        return _row(case, output, error, start)

    async def flush() -> None:
        rows = pending[:]
        pending.clear()
        if rows:
            await asyncio.to_thread(client.runs.push, run, rows)

    async def worker(queue: asyncio.Queue) -> None:
        while True:
            case = await queue.get()
            if case is None:
                return
            if coroutine:
                row = await timed_await(case)
            else:
                row = await loop.run_in_executor(pool, timed_call, case)
            async with lock:
                pending.append(row)
                if len(pending) >= every:
                    await flush()

    queue: asyncio.Queue = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    for _ in range(concurrency):
        queue.put_nowait(None)
    try:
        await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
        async with lock:
            await flush()
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _row(case: dict, output: Any, error: str | None, start: float) -> dict:
    latency = round((time.perf_counter() - start) * 1000, 3)
    try:
        encode_json(output)
    except (MlevalError, TypeError) as failure:  # one bad output fails its case, not the run
        output, error = None, f"the output is not JSON: {failure}"
    row = {"test_case_id": case["id"], "output_data": output, "latency_ms": latency}
    if error:
        row["error_message"] = error
    return row
