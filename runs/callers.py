"""Model callers: how a run's endpoint is called, one class per endpoint kind.

A run's `model_endpoint` names its kind by prefix (`http://`, `https://`, `python:`); each kind
is one `Caller` subclass registered for its prefixes with `@register(...)`, and the executor
(runs/execution.py) knows only the `Caller` interface: `start()`, `submit(cases)` (a list, so a
kind that batches sends them together), one `Outcome` per case on `results`, `close(cancel)`.

HTTP endpoints go through httpx on an event loop in a helper thread, at most `concurrency` calls
at once, a per-call timeout, and retries with exponential backoff for infrastructure failures
only (connection errors, timeouts, 429, 5xx; `Retry-After` honoured); in-process
`python:module:function` endpoints run in a thread pool. Latency is measured here.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import queue
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import certifi
import httpcore
import httpx
from django.conf import settings

from mleval_site import jsonsafe
from runs import reach
from runs.models import ModelRun

MAX_BACKOFF_SECONDS = 30.0
SNIPPET = 200


class ExecutionError(Exception):
    """The run cannot be executed at all (no endpoint, a module that is not allowed, ...)."""


@dataclass(frozen=True)
class ExecutionOptions:
    concurrency: int = 8
    timeout: float = 30.0  # seconds per call (each attempt)
    retries: int = 3  # further attempts after an infrastructure failure
    backoff: float = 0.5  # seconds before the first retry; doubles for each next one

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 1024:
            raise ValueError("concurrency must be between 1 and 1024")
        if not (0 < self.timeout <= 3600 and math.isfinite(self.timeout)):
            raise ValueError("timeout must be a positive number of seconds (at most 3600)")
        if not 0 <= self.retries <= 20:
            raise ValueError("retries must be between 0 and 20")
        if not (0 <= self.backoff <= 600 and math.isfinite(self.backoff)):
            raise ValueError("backoff must be between 0 and 600 seconds")


@dataclass(frozen=True)
class Claimed:
    test_case_id: int
    input_json: str
    input_type: str


@dataclass(frozen=True)
class Outcome:
    test_case_id: int
    output_json: str = "{}"
    latency_ms: int | None = None
    memory_mb: float | None = None
    tokens_used: int | None = None
    error_message: str = ""


def python_endpoint(endpoint: str) -> Callable:
    """`python:package.module:function` → the function, if its module is allowed.

    Importing a module runs its code, so only modules under MLEVAL_PYTHON_ENDPOINT_MODULES
    (default: the shipped demo models) can be named by a run.
    """
    _, module_name, function_name = endpoint.split(":")
    allowed = settings.MLEVAL_PYTHON_ENDPOINT_MODULES
    if not any(module_name == m or module_name.startswith(f"{m}.") for m in allowed):
        raise ExecutionError(
            f"Python endpoints may only use the modules {', '.join(allowed)} "
            f"(MLEVAL_PYTHON_ENDPOINT_MODULES); {module_name} is not one of them."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ExecutionError(f"Cannot import {module_name}: {error}") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ExecutionError(f"{module_name} has no function {function_name}.")
    return function


def check_reachable(url: str) -> None:
    """ExecutionError when the URL's host is outside MLEVAL_ENDPOINT_ALLOWED_HOSTS (runs/reach.py).

    Every caller that opens network connections calls this before it starts, and opens them
    through `http_transport`, which checks each connection's addresses again.
    """
    try:
        reach.check_endpoint_url(url)
    except reach.EndpointRefused as error:
        raise ExecutionError(str(error)) from None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the allowed list permits.

    The host is resolved here and the connection made to the checked address itself, so a
    name cannot pass the check with one address and connect to another.
    """

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from error
        addresses = reach.allowed_addresses(host, list(dict.fromkeys(i[4][0] for i in infos)))
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failure:
                error = failure
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise reach.EndpointRefused("Unix sockets are not endpoints.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def http_transport(**options) -> httpx.AsyncHTTPTransport:
    """httpx's transport (same options) whose every connection passes the allowed-hosts check:
    the one way callers open HTTP connections. A refused address raises reach.EndpointRefused
    from the request (not retried: it will not change)."""
    transport = httpx.AsyncHTTPTransport(**options)
    transport._pool._network_backend = _GuardedBackend()  # httpx has no public option for it
    return transport


def _snippet(body: bytes) -> str:
    text = body[:SNIPPET].decode("utf-8", errors="replace").strip()
    return text + ("…" if len(body) > SNIPPET else "") if text else "(empty body)"


def _measure(meta, name: str, integer: bool):
    value = meta.get(name) if isinstance(meta, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if value < 0 or (integer and (value != int(value) or value > 2**31 - 1)):
        return None
    return int(value) if integer else float(value)


def _outcome(case_id: int, output, latency_ms: int, raw: str | None = None) -> Outcome:
    """A model's answer → Outcome. A top-level `_meta` object's tokens_used / memory_mb go to
    their columns and `_meta` leaves output_data; invalid measurements there are ignored."""
    tokens = memory = None
    if isinstance(output, dict) and "_meta" in output:
        output = dict(output)
        meta = output.pop("_meta")
        tokens, memory = _measure(meta, "tokens_used", True), _measure(meta, "memory_mb", False)
        raw = None
    if (raw is None or jsonsafe.suspect(raw)) and (reason := jsonsafe.unstorable(output)):
        return Outcome(case_id, latency_ms=latency_ms, error_message=f"the reply {reason}")
    if raw is None:
        try:
            raw = json.dumps(output, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            return Outcome(
                case_id,
                latency_ms=latency_ms,
                error_message=f"the model's answer is not JSON: {error}",
            )
    return Outcome(case_id, raw, latency_ms, memory, tokens)


class Caller:
    """Runs calls concurrently and puts one Outcome per submitted case on `results`.

    A subclass is one endpoint kind, registered for its prefixes with `@register`: `check`
    refuses an endpoint it cannot call (before anything is queued or changed), and `start`,
    `submit` and `close` make the calls.
    """

    prefixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        self.options = options
        self.config_json = json.dumps(run.config or {})
        self.results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

    @classmethod
    def check(cls, endpoint: str) -> None:
        """Raise ExecutionError when `endpoint` cannot be called by this kind."""

    def start(self) -> None: ...

    def submit(self, cases: list[Claimed]) -> None:
        raise NotImplementedError

    def close(self, cancel: bool) -> None: ...


CALLERS: dict[str, type[Caller]] = {}  # endpoint prefix → its caller


def register(*prefixes: str) -> Callable[[type[Caller]], type[Caller]]:
    """Class decorator: the endpoints starting with one of `prefixes` are called by this class."""

    def decorate(cls: type[Caller]) -> type[Caller]:
        for prefix in prefixes:
            if prefix in CALLERS:
                raise ValueError(f"endpoint prefix {prefix!r} is {CALLERS[prefix].__name__}'s")
            CALLERS[prefix] = cls
        cls.prefixes = prefixes
        return cls

    return decorate


def caller_class(endpoint: str) -> type[Caller]:
    """The caller registered for the endpoint's prefix (the longest that matches)."""
    for prefix in sorted(CALLERS, key=len, reverse=True):
        if endpoint.startswith(prefix):
            return CALLERS[prefix]
    raise ExecutionError(f"Unknown endpoint kind: {endpoint}")


def check_endpoint(run: ModelRun) -> None:
    """Raise ExecutionError when the run cannot be executed, before anything is queued."""
    endpoint = run.model_endpoint
    if not endpoint:
        raise ExecutionError(
            "This run has no endpoint: set one, or push its responses (upload, API, "
            "import_responses)."
        )
    caller_class(endpoint).check(endpoint)


def open_caller(run: ModelRun, options: ExecutionOptions) -> Caller:
    """The caller of the run's endpoint; ExecutionError when it cannot be called."""
    check_endpoint(run)
    return caller_class(run.model_endpoint)(run, options)


@register("python:")
class PythonCaller(Caller):
    """In-process functions, `function(input_data, config)`, in a thread pool."""

    @classmethod
    def check(cls, endpoint: str) -> None:
        python_endpoint(endpoint)

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        super().__init__(run, options)
        self.function = python_endpoint(run.model_endpoint)
        self.pool = ThreadPoolExecutor(options.concurrency, thread_name_prefix="mleval-model")

    def submit(self, cases: list[Claimed]) -> None:
        for case in cases:
            self.pool.submit(self._call, case).add_done_callback(self._deliver)

    def _deliver(self, future: Future) -> None:
        if not future.cancelled():
            self.results.put(future.result())

    def _call(self, case: Claimed) -> Outcome:
        try:
            input_data, config = json.loads(case.input_json), json.loads(self.config_json)
            started = time.perf_counter()
            try:
                output = self.function(input_data, config)
            except Exception as error:  # the model's own failure, recorded on its case
                latency = round((time.perf_counter() - started) * 1000)
                return Outcome(
                    case.test_case_id,
                    latency_ms=latency,
                    error_message=f"{type(error).__name__}: {error}"[:2000],
                )
            latency = round((time.perf_counter() - started) * 1000)
            return _outcome(case.test_case_id, output, latency)
        except Exception as error:  # never lose a case: anything else is its failure too
            return Outcome(case.test_case_id, error_message=f"mleval error: {error!r}")

    def close(self, cancel: bool) -> None:
        # A running Python call cannot be interrupted; on cancel its result is dropped.
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


@register("http://", "https://")
class HttpCaller(Caller):
    """POSTs through httpx on an event loop in a helper thread.

    `concurrency` clients of one keep-alive connection each, lent out one call at a time: the
    pool of idle clients is the concurrency bound. (One client with N connections costs about
    three times the CPU per call at N = 64: httpcore scans its whole pool on every request.)
    """

    @classmethod
    def check(cls, endpoint: str) -> None:
        check_reachable(endpoint)

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        super().__init__(run, options)
        self.url = run.model_endpoint
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task] = set()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="mleval-http", daemon=True)
        self.closed = False

    def start(self) -> None:
        self.thread.start()
        self.ready.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        verify = True
        if self.url.startswith("https:"):  # one TLS context shared by every client
            verify = ssl.create_default_context(cafile=certifi.where())
        self.clients = [
            httpx.AsyncClient(
                transport=http_transport(
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    verify=verify,
                ),
                timeout=httpx.Timeout(self.options.timeout),
                headers={"content-type": "application/json", "user-agent": "mleval"},
            )
            for _ in range(self.options.concurrency)
        ]
        self.idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self.clients:
            self.idle.put_nowait(client)
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    def submit(self, cases: list[Claimed]) -> None:
        self.loop.call_soon_threadsafe(self._spawn, cases)

    def _spawn(self, cases: list[Claimed]) -> None:
        for case in cases:
            task = self.loop.create_task(self._call(case))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _call(self, case: Claimed) -> None:
        try:
            outcome = await self._attempts(case)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never lose a case: anything unexpected is its failure
            outcome = Outcome(case.test_case_id, error_message=f"mleval error: {error!r}")
        self.results.put(outcome)

    async def _attempts(self, case: Claimed) -> Outcome:
        payload = (
            f'{{"test_case_id": {case.test_case_id}, "input_data": {case.input_json}, '
            f'"input_type": {json.dumps(case.input_type)}, "config": {self.config_json}}}'
        ).encode()
        options = self.options
        attempt = 0
        while True:
            retry_after = 0.0
            latency = None
            client = await self.idle.get()
            try:
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(options.timeout):
                        reply = await client.post(self.url, content=payload)
                except reach.EndpointRefused as error:  # the allowed list: retrying cannot help
                    return Outcome(case.test_case_id, error_message=str(error))
                except (TimeoutError, httpx.TimeoutException):
                    problem = f"timed out after {options.timeout:g}s"
                except httpx.TransportError as error:
                    problem = f"connection failed: {type(error).__name__}: {error}".rstrip(": ")
                else:
                    latency = round((time.perf_counter() - started) * 1000)
                    status = reply.status_code
                    if 200 <= status < 300:
                        return self._answer(case.test_case_id, reply.content, latency)
                    problem = f"HTTP {status}: {_snippet(reply.content)}"
                    if status != 429 and status < 500:  # the model refused this input
                        return Outcome(case.test_case_id, latency_ms=latency, error_message=problem)
                    retry_after = _retry_after(reply)
            finally:
                self.idle.put_nowait(client)
            if attempt >= options.retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                return Outcome(case.test_case_id, latency_ms=latency, error_message=problem + tries)
            delay = options.backoff * 2**attempt * random.uniform(1.0, 1.25)
            await asyncio.sleep(min(max(delay, retry_after), MAX_BACKOFF_SECONDS))
            attempt += 1

    @staticmethod
    def _answer(case_id: int, body: bytes, latency: int) -> Outcome:
        try:
            output = jsonsafe.loads(body)
        except ValueError:
            return Outcome(
                case_id,
                latency_ms=latency,
                error_message=f"the endpoint replied with a non-JSON body: {_snippet(body)}",
            )
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError:
            raw = None
        return _outcome(case_id, output, latency, raw)

    def close(self, cancel: bool) -> None:
        if self.closed or not self.thread.is_alive():
            return
        self.closed = True
        future = asyncio.run_coroutine_threadsafe(self._shutdown(cancel), self.loop)
        try:
            future.result(timeout=max(10.0, self.options.timeout * 2))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    async def _shutdown(self, cancel: bool) -> None:
        if cancel:
            for task in list(self.tasks):
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.aclose()


def _retry_after(reply: httpx.Response) -> float:
    try:
        return min(float(reply.headers.get("retry-after", 0)), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0
