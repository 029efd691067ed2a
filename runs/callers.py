"""Model callers: how a run's endpoint is called, one class per endpoint kind.

A run's `model_endpoint` names its kind by prefix (`http://`, `python:`, `openai:`, ...); each
kind is one `Caller` subclass registered for its prefixes with `@register(...)`, and the
executor (runs/execution.py) knows only the `Caller` interface: `check_run(run)`, `start()`,
`submit(cases)` (a list, so a kind that batches sends them together), one `Outcome` per case on
`results`, `close(cancel)`.

Here: the interface, the registry, the `python:module:function` kind (a thread pool) and what
every kind shares (the connector config, the run's rate limiter, headers resolved in the
worker). The HTTP kinds: runs/http_callers.py (`http(s)://`), runs/openai_caller.py (`openai:`),
runs/batch_callers.py (`mlflow:`, `kserve-v1:`, `kserve-v2:`).
Latency is measured by the callers.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import queue
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import httpcore
import httpx

from cases.models import TestCase
from mleval_site import jsonsafe
from runs import reach
from runs.endpoint_config import (
    ConfigErrors,
    EndpointConfig,
    MissingVariable,
    TemplateProblem,
    is_connector,
    parse_config,
    python_module_refusal,
    render,
    resolve_headers,
)
from runs.models import ModelRun, RunCase
from runs.ratelimit import RateLimiter

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
    output_type: str = ""


@dataclass(frozen=True)
class Outcome:
    test_case_id: int
    output_json: str = "{}"
    latency_ms: float | None = None  # milliseconds, to the microsecond
    memory_mb: float | None = None
    tokens_used: int | None = None
    error_message: str = ""


def python_endpoint(endpoint: str) -> Callable:
    """`python:package.module:function` → the function, if its module is allowed.

    The allow-list rule is runs.endpoint_config.python_module_refusal (registration refuses
    such a run already; a worker with another setting refuses it here too).
    """
    if reason := python_module_refusal(endpoint):
        raise ExecutionError(reason)
    _, module_name, function_name = endpoint.split(":")
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


def _measure(meta, name: str, integer: bool):
    value = meta.get(name) if isinstance(meta, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if value < 0 or (integer and (value != int(value) or value > 2**31 - 1)):
        return None
    return int(value) if integer else float(value)


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a perf_counter reading), kept to the microsecond: a fast
    model answers in well under a millisecond, which whole milliseconds would call 0."""
    return round((time.perf_counter() - started) * 1000, 3)


def _outcome(case_id: int, output, latency_ms: float, raw: str | None = None) -> Outcome:
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
    batch_size: int = 1  # cases per call: the executor claims whole batches

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        self.options = options
        self.config_json = json.dumps(run.config or {})
        self.results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        # The connector kinds' config keys (runs/endpoint_config.py); None for the others.
        self.endpoint_config: EndpointConfig | None = None
        if is_connector(run.model_endpoint):
            self.endpoint_config = connector_config(run)
        limit = self.endpoint_config.rate_limit if self.endpoint_config else None
        self.limiter = RateLimiter(run.pk, limit) if limit else None

    @classmethod
    def check(cls, endpoint: str) -> None:
        """Raise ExecutionError when `endpoint` cannot be called by this kind."""

    @classmethod
    def check_run(cls, run: ModelRun) -> None:
        """Raise ExecutionError when the run cannot be executed (its endpoint, its config, its
        first case), before anything is queued or changed. Runs in the web process too: it
        must not read the worker's environment."""
        cls.check(run.model_endpoint)
        if is_connector(run.model_endpoint):
            check_templates(run, connector_config(run))

    def start(self) -> None: ...

    def resolved_headers(self) -> dict[str, str]:
        """The config's headers with `${NAME}` resolved from this process's environment (the
        worker's); ExecutionError naming a missing variable. Keep the result in memory only."""
        if not self.endpoint_config:
            return {}
        try:
            return resolve_headers(self.endpoint_config.headers)
        except MissingVariable as error:
            raise ExecutionError(f"Cannot call the endpoint: {error}.") from None

    def close_limiter(self) -> None:
        if self.limiter:
            self.limiter.close()

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


def connector_config(run: ModelRun) -> EndpointConfig:
    """The run's connector config keys, checked; ExecutionError naming the bad keys."""
    try:
        return parse_config(run.config, model_name=run.model_name)
    except ConfigErrors as error:
        raise ExecutionError(f"The run's config cannot be used: {error}") from None


def check_templates(run: ModelRun, config: EndpointConfig) -> None:
    """Render the run's templates on its first case: a run whose templates fail there does not
    start (ExecutionError naming the case and the problem)."""
    if config.prompt is None and config.system is None:
        return
    first = (
        TestCase.objects.filter(pk__in=RunCase.objects.filter(run=run).values("test_case_id"))
        .order_by("pk")
        .values_list("pk", "input_data", "input_type")
        .first()
    )
    if first is None:
        return
    for key in ("system", "prompt"):
        if (source := getattr(config, key)) is not None:
            try:
                render(key, source, *first)
            except TemplateProblem as problem:
                raise ExecutionError(f"The run cannot start: {problem}") from None


def check_endpoint(run: ModelRun) -> None:
    """Raise ExecutionError when the run cannot be executed, before anything is queued."""
    endpoint = run.model_endpoint
    if not endpoint:
        raise ExecutionError(
            "This run has no endpoint: set one, or push its responses (upload, API, "
            "import_responses)."
        )
    caller_class(endpoint).check_run(run)


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
            if self.limiter and (wait := self.limiter.reserve()) > 0:
                time.sleep(wait)
            started = time.perf_counter()
            try:
                output = self.function(input_data, config)
            except Exception as error:  # the model's own failure, recorded on its case
                latency = elapsed_ms(started)
                return Outcome(
                    case.test_case_id,
                    latency_ms=latency,
                    error_message=f"{type(error).__name__}: {error}"[:2000],
                )
            latency = elapsed_ms(started)
            return _outcome(case.test_case_id, output, latency)
        except Exception as error:  # never lose a case: anything else is its failure too
            return Outcome(case.test_case_id, error_message=f"mleval error: {error!r}")

    def close(self, cancel: bool) -> None:
        # A running Python call cannot be interrupted; on cancel its result is dropped.
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self.close_limiter()


# The HTTP kinds live in their own modules; importing them here registers them.
from runs import batch_callers, http_callers, openai_caller  # noqa: E402, F401
from runs.http_callers import HttpCaller  # noqa: E402, F401
