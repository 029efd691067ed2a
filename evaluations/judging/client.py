"""Asking a judge many questions at once, on the run callers' HTTP pool (runs.http_callers).

``ask(judge, questions, concurrency, timeout)`` yields one :class:`Answer` per question as the
replies arrive, in any order, while an event loop in a helper thread makes the calls: at most
``concurrency`` at once, each through the judge's rate limit (a slot row shared by every
evaluation asking that judge, whatever the process), retried on connection errors, timeouts,
429 (``Retry-After`` honoured) and 5xx. The caller's thread keeps the database work.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evaluations.evaluators.judge import JudgeReply
from evaluations.judging.judges import Judge, JudgeUnavailable
from mleval_site import jsonsafe
from runs.callers import ExecutionOptions
from runs.endpoint_config import MissingVariable, resolve_headers
from runs.http_callers import HttpPool, _snippet
from runs.openai_caller import chat_url
from runs.ratelimit import RateLimiter

_RESERVE_SQL = """
INSERT INTO judge_rate_limits (key, next_at)
VALUES (%(run)s, clock_timestamp() + make_interval(secs => %(interval)s))
ON CONFLICT (key) DO UPDATE
SET next_at = greatest(judge_rate_limits.next_at, clock_timestamp())
              + make_interval(secs => %(interval)s)
RETURNING extract(epoch FROM next_at - clock_timestamp())::float8 - %(interval)s
"""


class JudgeRateLimiter(RateLimiter):
    """runs.ratelimit's limiter, its slots kept per judge (judge_rate_limits) not per run."""

    reserve_sql = _RESERVE_SQL


@dataclass(frozen=True, slots=True)
class Question:
    key: str  # the cache key
    body: bytes  # the chat completions request


@dataclass(frozen=True, slots=True)
class Answer:
    key: str
    reply: JudgeReply


_DONE = object()


class JudgeClient(HttpPool):
    def __init__(self, judge: Judge, concurrency: int, timeout: float) -> None:
        self.judge = judge
        self.options = ExecutionOptions(concurrency=concurrency, timeout=timeout)
        self.url = chat_url(judge.base_url)
        self.warm_url = f"{judge.base_url}/models"
        try:  # in the worker, at call time: the key never leaves this process's memory
            resolved = resolve_headers(judge.headers)
        except MissingVariable as error:
            message = str(error).replace("the run's headers", "the judge's headers")
            raise JudgeUnavailable(f"Cannot call the judge: {message}.") from None
        self.headers = {"content-type": "application/json", "user-agent": "mleval", **resolved}
        self.limiter = (
            JudgeRateLimiter(judge.limit_key, judge.rate_limit) if judge.rate_limit else None
        )

    def ask(self, questions: Sequence[Question]) -> Iterator[Answer]:
        """One Answer per question, as they come. Stopping early (an exception in the caller)
        stops the helper thread too."""
        if not questions:
            return
        answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = threading.Event()
        thread = threading.Thread(
            target=lambda: asyncio.run(self._all(questions, answers, stop)),
            name="mleval-judge",
            daemon=True,
        )
        thread.start()
        try:
            while (item := answers.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=30)
            if self.limiter:
                self.limiter.close()

    async def _all(self, questions: Sequence[Question], answers: queue.SimpleQueue, stop) -> None:
        try:
            await self.open_pool()
            pending = iter(questions)

            async def work() -> None:
                for question in pending:  # one iterator shared: each question asked once
                    if stop.is_set():
                        return
                    answers.put(await self._one(question))

            try:
                await asyncio.gather(*(work() for _ in range(self.options.concurrency)))
            finally:
                await self.close_pool()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            answers.put(error)
        answers.put(_DONE)

    async def _one(self, question: Question) -> Answer:
        try:
            posted = await self.post(self.url, question.body)
        except Exception as error:  # never lose a question: anything unexpected is its failure
            return Answer(question.key, JudgeReply(None, f"mleval error: {error!r}"))
        if posted.reply is None:
            return Answer(question.key, JudgeReply(None, posted.problem, latency_ms=posted.latency))
        return Answer(
            question.key, read_completion(self.judge, posted.reply.content, posted.latency)
        )


def read_completion(judge: Judge, body: bytes, latency: float | None) -> JudgeReply:
    """A chat completions reply → its text, tokens and cost; a reply without text content
    is a failed call (not cached)."""
    try:
        reply = jsonsafe.loads(body)
        content = reply["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return JudgeReply(
            None,
            f"the reply has no choices[0].message.content: {_snippet(body)}",
            latency_ms=latency,
        )
    if not isinstance(content, str):
        return JudgeReply(None, "the reply's message has no text content", latency_ms=latency)
    usage = reply.get("usage") if isinstance(reply, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    inputs, outputs = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    return JudgeReply(
        content,
        input_tokens=inputs,
        output_tokens=outputs,
        latency_ms=latency,
        cost=judge.cost(inputs, outputs),
    )


def _count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
    return value if ok else None


def request_body(request: dict[str, Any]) -> bytes:
    return json.dumps(request, ensure_ascii=False).encode()
