"""The HTTP endpoint kinds' common caller: httpx on an event loop in a helper thread.

`HttpCaller` calls `http(s)://` endpoints with mleval's own request body; the connector kinds
(runs/openai_caller.py, runs/batch_callers.py) subclass it and replace `request_body` / `answer`
(or `submit`, to batch), keeping `post`: at most `concurrency` calls at once, a per-call
timeout, retries with exponential backoff for infrastructure failures only (connection errors,
timeouts, 429, 5xx; `Retry-After` honoured), the run's `rate_limit`, and headers resolved in
the worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import certifi
import httpx

from mleval_site import jsonsafe
from runs import callers, reach
from runs.callers import (
    MAX_BACKOFF_SECONDS,
    SNIPPET,
    Caller,
    Claimed,
    ExecutionOptions,
    Outcome,
    _outcome,
    elapsed_ms,
    register,
)
from runs.endpoint_config import endpoint_url
from runs.models import ModelRun


@dataclass(frozen=True)
class Posted:
    """What `HttpCaller.post` got: the 2xx reply, or the problem after the retry rules."""

    reply: httpx.Response | None
    latency: float | None = None
    problem: str = ""


def _snippet(body: bytes) -> str:
    text = body[:SNIPPET].decode("utf-8", errors="replace").strip()
    return text + ("…" if len(body) > SNIPPET else "") if text else "(empty body)"


class HttpPool:
    """`concurrency` httpx clients of one keep-alive connection each, lent out one call at a
    time: the pool of idle clients is the concurrency bound. (One client with N connections
    costs about three times the CPU per call at N = 64: httpcore scans its whole pool on every
    request.) `post` applies the retry rules and the rate limit. Shared by the run callers
    and the LLM judge (evaluations.judging), which set `options`, `headers`, `url` (its scheme
    picks TLS), `limiter` (None: no rate limit) and `warm_url` before `open_pool`.
    """

    options: ExecutionOptions
    headers: dict[str, str]
    url: str
    limiter = None
    # A URL GET once per client before the first call, so connecting (and the TLS handshake)
    # is not timed as the first calls' latency; None: no warm-up.
    warm_url: str | None = None

    async def open_pool(self) -> None:
        """Create the clients (on the running loop) and open their connections."""
        verify = True
        if self.url.startswith("https:"):  # one TLS context shared by every client
            verify = ssl.create_default_context(cafile=certifi.where())
        self.clients = [
            httpx.AsyncClient(
                transport=callers.http_transport(
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    verify=verify,
                ),
                timeout=httpx.Timeout(self.options.timeout),
                headers=self.headers,
            )
            for _ in range(self.options.concurrency)
        ]
        self.idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self.clients:
            self.idle.put_nowait(client)
        self.slots = None
        if self.limiter:  # reserving a slot is a database call: off the event loop
            self.slots = ThreadPoolExecutor(1, thread_name_prefix="mleval-rate")
        if self.warm_url:
            await self._warm()

    async def close_pool(self) -> None:
        for client in self.clients:
            await client.aclose()
        if self.slots:
            self.slots.shutdown(wait=False)

    async def _warm(self) -> None:
        """Open every client's connection with one untimed GET (its answer does not matter)."""

        async def warm(client: httpx.AsyncClient) -> None:
            try:
                await client.get(self.warm_url, timeout=min(self.options.timeout, 5.0))
            except (httpx.HTTPError, reach.EndpointRefused):
                pass  # the calls will say what is wrong with the endpoint

        await asyncio.gather(*(warm(client) for client in self.clients))

    async def _wait_for_slot(self) -> None:
        """Under a `rate_limit`: reserve the run's next request slot and wait for it."""
        if self.limiter:
            wait = await asyncio.get_running_loop().run_in_executor(
                self.slots, self.limiter.reserve
            )
            if wait > 0:
                await asyncio.sleep(wait)

    async def post(self, url: str, body: bytes, *, retry_server_errors: bool = True) -> Posted:
        """POST with the retry rules: infrastructure failures (connection errors, timeouts, 429,
        5xx) are retried with exponential backoff, `Retry-After` honoured, under the run's
        `rate_limit`. `reply` is set for a 2xx answer only; else `problem` says what failed, and
        `latency` is set when the last attempt got an HTTP answer. `retry_server_errors=False`:
        a 5xx is final (a batch's halves, whose whole was retried already)."""
        options = self.options
        attempt = 0
        while True:
            retry_after = 0.0
            latency = None
            client = await self.idle.get()
            try:
                await self._wait_for_slot()
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(options.timeout):
                        reply = await client.post(url, content=body)
                except reach.EndpointRefused as error:  # the allowed list: retrying cannot help
                    return Posted(None, None, str(error))
                except (TimeoutError, httpx.TimeoutException):
                    problem = f"timed out after {options.timeout:g}s"
                except httpx.TransportError as error:
                    problem = f"connection failed: {type(error).__name__}: {error}".rstrip(": ")
                else:
                    latency = elapsed_ms(started)
                    status = reply.status_code
                    if 200 <= status < 300:
                        return Posted(reply, latency)
                    problem = f"HTTP {status}: {_snippet(reply.content)}"
                    if status != 429 and (status < 500 or not retry_server_errors):
                        return Posted(None, latency, problem)  # the model refused this input
                    retry_after = _retry_after(reply)
            finally:
                self.idle.put_nowait(client)
            if attempt >= options.retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                return Posted(None, latency, problem + tries)
            delay = options.backoff * 2**attempt * random.uniform(1.0, 1.25)
            await asyncio.sleep(min(max(delay, retry_after), MAX_BACKOFF_SECONDS))
            attempt += 1


@register("http://", "https://")
class HttpCaller(HttpPool, Caller):
    """POSTs through httpx (an HttpPool) on an event loop in a helper thread."""

    @classmethod
    def check(cls, endpoint: str) -> None:
        callers.check_reachable(endpoint_url(endpoint))

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        super().__init__(run, options)
        self.url = run.model_endpoint
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task] = set()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="mleval-http", daemon=True)
        self.closed = False

    def start(self) -> None:
        # In the worker, at call time: a missing variable fails the run before any call.
        self.headers = {
            "content-type": "application/json",
            "user-agent": "mleval",
            **self.resolved_headers(),
        }
        self.thread.start()
        self.ready.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.open_pool())
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
        try:
            body = self.request_body(case)
        except ValueError as error:  # e.g. a template that fails on this case
            return Outcome(case.test_case_id, error_message=str(error)[:2000])
        posted = await self.post(self.url, body)
        if posted.reply is None:
            latency, problem = posted.latency, posted.problem
            return Outcome(case.test_case_id, latency_ms=latency, error_message=problem)
        return self.answer(case, posted.reply, posted.latency)

    def request_body(self, case: Claimed) -> bytes:
        """The POST body for one case; a subclass speaks its server's protocol."""
        return (
            f'{{"test_case_id": {case.test_case_id}, "input_data": {case.input_json}, '
            f'"input_type": {json.dumps(case.input_type)}, "config": {self.config_json}}}'
        ).encode()

    def answer(self, case: Claimed, reply: httpx.Response, latency: float) -> Outcome:
        """A 2xx reply → the case's Outcome; a subclass reads its server's reply shape."""
        return self._answer(case.test_case_id, reply.content, latency)

    @staticmethod
    def _answer(case_id: int, body: bytes, latency: float) -> Outcome:
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
        await self.close_pool()
        self.close_limiter()


def _retry_after(reply: httpx.Response) -> float:
    try:
        return min(float(reply.headers.get("retry-after", 0)), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0
