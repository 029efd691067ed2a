"""Which judge an ``llm_judge`` evaluator asks, and the cache key of one question."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from evaluations.evaluators import REGISTRY, EvaluatorConflict
from evaluations.evaluators.assertions import rubric_judge_params
from evaluations.evaluators.judge import endpoint_base
from runs import reach
from runs.connections import Connection, ConnectionKind
from runs.costs import token_cost
from runs.endpoint_config import RateLimit, parse_rate_limit

# Asked of every judge unless its params say otherwise: JSON mode, so the reply parses.
JSON_MODE = {"response_format": {"type": "json_object"}}


class JudgeUnavailable(Exception):
    """The judge cannot be asked at all (its connection was deleted, a header's variable is
    not set in the worker): the evaluation fails saying so, rather than writing a judge error
    on every verdict."""


@dataclass(frozen=True)
class Judge:
    """Where and how to ask: the base URL, model, request parameters, headers (``${NAME}``
    references, resolved in the worker), rate limit and per-million token prices."""

    base_url: str
    model: str
    request_params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    input_price: float | None = None
    output_price: float | None = None
    connection: str = ""

    @property
    def label(self) -> dict[str, str]:
        """Who judged, as verdicts record it."""
        where = {"connection": self.connection} if self.connection else {"endpoint": self.base_url}
        return {**where, "model": self.model}

    @property
    def limit_key(self) -> str:
        """The rate limit's slot row: one per connection, or per endpoint and model."""
        return (
            f"connection:{self.connection}" if self.connection else f"{self.base_url}|{self.model}"
        )

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """The call's cost at the per-million prices (runs.costs.token_cost, the rule a model
        run's cost per 1,000 cases uses too); None when no price is known, a missing one 0."""
        if self.input_price is None and self.output_price is None:
            return None
        return token_cost(
            (input_tokens or 0, self.input_price or 0.0),
            (output_tokens or 0, self.output_price or 0.0),
        )

    def request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        body = {**self.request_params, "model": self.model, "messages": messages}
        return {key: value for key, value in body.items() if value is not None}

    def key(self, request: dict[str, Any], repeat: int) -> str:
        """The cache key of one question: SHA-256 over the endpoint, the whole request (model,
        parameters, messages) and the repeat number."""
        return self.keyed(self.key_head(request))(request["messages"], repeat)

    def key_head(self, request: dict[str, Any]) -> bytes:
        """The part of the key every question of one evaluator shares (all but the messages),
        serialized once."""
        shared = {name: value for name, value in request.items() if name != "messages"}
        return _canonical([self.base_url, shared]).encode()

    @staticmethod
    def keyed(head: bytes):
        """``(messages, repeat) → key`` under a shared head (the stage keys many at once)."""

        def key(messages: list[dict[str, str]], repeat: int) -> str:
            digest = hashlib.sha256(head)
            digest.update(b"\n" + _canonical_messages(messages) + b"\n%d" % repeat)
            return digest.hexdigest()

        return key


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _canonical_messages(messages: list[dict[str, str]]) -> bytes:
    """``_canonical(messages).encode()``, by orjson when it can (a third of a key's time):
    for objects of strings its sorted compact output is json's byte for byte, so the keys
    are the ones the cache already holds. What orjson refuses goes json's way."""
    try:
        return orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return _canonical(messages).encode()


def _connection(name: str) -> Connection:
    connection = Connection.objects.filter(name=name).first()
    if connection is None:
        raise JudgeUnavailable(f"there is no saved connection named {name}")
    if connection.kind != ConnectionKind.OPENAI:
        raise JudgeUnavailable(
            f"connection {name} is a {connection.kind} connection; a judge needs an openai one"
        )
    return connection


def resolve_judge(params: Mapping[str, Any]) -> Judge:
    """The judge of validated llm_judge parameters (its connection read now); the
    evaluator's own parameters win over the connection's settings."""
    requested = {**JSON_MODE}
    if params.get("connection"):
        connection = _connection(params["connection"])
        requested.update(connection.params or {})
        requested.update(params.get("params") or {})
        model = params.get("model") or connection.model
        if not model:
            raise JudgeUnavailable(
                f"connection {connection.name} has no model: give llm_judge a model"
            )
        limit = params.get("rate_limit") or connection.rate_limit

        def price(own: str, theirs: Any) -> float | None:
            value = params.get(own)
            return float(theirs) if value is None and theirs is not None else value

        return Judge(
            base_url=connection.base_url.rstrip("/"),
            model=model,
            request_params=requested,
            headers=dict(connection.headers or {}),
            rate_limit=parse_rate_limit(limit) if limit else None,
            input_price=price("input_price_per_million", connection.input_price_per_million),
            output_price=price("output_price_per_million", connection.output_price_per_million),
            connection=connection.name,
        )
    requested.update(params.get("params") or {})
    return Judge(
        base_url=endpoint_base(params["endpoint"]),
        model=params["model"],
        request_params=requested,
        rate_limit=parse_rate_limit(params["rate_limit"]) if params.get("rate_limit") else None,
        input_price=params.get("input_price_per_million"),
        output_price=params.get("output_price_per_million"),
    )


def judge_params_of(name: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The llm_judge parameters an evaluator asks its judge with, or None when it asks none:
    llm_judge's own, or the assertions evaluator's ``judge`` (for its llm_rubric items)."""
    if REGISTRY[name].judged:
        return dict(params)
    if name == "assertions" and params.get("judge"):
        return rubric_judge_params(params["judge"])
    return None


def check_judge(params: Mapping[str, Any]) -> None:
    """What validate_params cannot check without the database, before anything is queued:
    the connection exists, is an openai one and has a model; the host is allowed
    (MLEVAL_ENDPOINT_ALLOWED_HOSTS). EvaluatorConfigError naming the problem."""
    try:
        judge = resolve_judge(params)
        reach.check_endpoint_url(judge.base_url)
    except (JudgeUnavailable, reach.EndpointRefused) as error:
        raise EvaluatorConflict(f"llm_judge: {error}") from None
