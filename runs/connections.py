"""Saved connections: a model server's kind, URL, headers and default run config, by name.

A run registered with the endpoint `connection:<name>` gets the connection's endpoint and a
copy of its settings in its config (the run's own config keys win), plus `"connection":
"<name>"` to say where they came from; so a run stays reproducible when the connection changes
later. Headers hold `${NAME}` references only (runs.endpoint_config's rule); the per-million
token prices are for judge costs. They live in `runs` (not an app of their own) because their
rules are the connector rules of runs.endpoint_config, and evaluations may import runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Now

from runs import reach
from runs.endpoint_config import (
    CONNECTION_PREFIX,
    ConfigErrors,
    MissingVariable,
    parse_config,
    resolve_headers,
)

NAME_PATTERN = r"^[A-Za-z0-9][\w.-]*$"
DEFAULT_KEYS = ("model", "params", "batch_size", "rate_limit", "headers")


class ConnectionKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible chat completions"
    MLFLOW = "mlflow", "MLflow scoring server"
    KSERVE_V1 = "kserve-v1", "KServe v1 (predict)"
    KSERVE_V2 = "kserve-v2", "Open Inference Protocol (KServe v2, Triton, MLServer)"


class Connection(models.Model):
    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(NAME_PATTERN, "Letters, digits, _ . - (no spaces).")],
        help_text="Runs name it as connection:NAME.",
    )
    kind = models.CharField(max_length=20, choices=ConnectionKind.choices)
    base_url = models.URLField(
        max_length=2000,
        help_text="The server's URL: https://api.openai.com/v1 (openai), http://host:5000 "
        "(mlflow), http://host/v1/models/NAME (kserve-v1), http://host/v2/models/NAME "
        "(kserve-v2).",
    )
    headers = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"Authorization": "Bearer ${OPENAI_API_KEY}"}: ${NAME} is read from the '
        "worker's environment at call time; the value is never stored.",
    )
    model = models.CharField(max_length=255, blank=True, help_text="Default: the run's name.")
    params = models.JSONField(default=dict, blank=True, help_text='e.g. {"temperature": 0}')
    batch_size = models.PositiveIntegerField(null=True, blank=True)
    rate_limit = models.CharField(max_length=40, blank=True, help_text='e.g. "600/minute"')
    input_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="per 1M input tokens"
    )
    output_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="per 1M output tokens"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "connections"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("connections:edit", args=[self.pk])

    @property
    def endpoint(self) -> str:
        return f"{self.kind}:{self.base_url}"

    def default_config(self) -> dict:
        """The run config keys this connection sets (only those it has)."""
        values = {
            "model": self.model,
            "params": self.params,
            "batch_size": self.batch_size,
            "rate_limit": self.rate_limit,
            "headers": self.headers,
        }
        return {key: value for key, value in values.items() if value not in (None, "", {})}

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.base_url:
            try:
                reach.check_endpoint_url(self.base_url)
            except reach.EndpointRefused as error:
                errors["base_url"] = [str(error)]
        try:
            parse_config(self.default_config())
        except ConfigErrors as error:
            for problem in error.problems:
                key = problem.split(":", 1)[0]
                errors.setdefault(key if key in DEFAULT_KEYS else "__all__", []).append(problem)
        if errors:
            raise ValidationError(errors)


class UnknownConnection(ValidationError):
    """A well-formed `connection:<name>` naming no saved connection (the API's 404)."""


def expand_connection(endpoint: str, config: dict) -> tuple[str, dict]:
    """`connection:<name>` → the connection's endpoint, and the run's config over a copy of the
    connection's settings; other endpoints pass unchanged. UnknownConnection (a
    ValidationError naming model_endpoint) for an unknown name."""
    if not endpoint.startswith(CONNECTION_PREFIX):
        return endpoint, config
    name = endpoint.removeprefix(CONNECTION_PREFIX)
    connection = Connection.objects.filter(name=name).first()
    if connection is None:
        raise UnknownConnection({"model_endpoint": [f"There is no saved connection named {name}."]})
    return connection.endpoint, {**connection.default_config(), **config, "connection": name}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: int | None
    status: int | None
    reply: str  # what the run would store (openai), or the server's answer; never a header
    problem: str = ""


TEST_PROMPT = "Reply with the single word OK."


def probe_connection(connection: Connection, timeout: float = 15.0) -> ProbeResult:
    """Send one real request: a one-message chat completion (openai), or the server's health
    or model-status GET (mlflow, kserve). Headers are resolved from this process's
    environment, and the result never holds them."""
    from runs.callers import ExecutionError, caller_class, http_transport
    from runs.openai_caller import chat_url, read_reply

    try:
        reach.check_endpoint_url(connection.base_url)
        headers = resolve_headers(connection.headers)
    except (reach.EndpointRefused, MissingVariable) as error:
        return ProbeResult(False, None, None, "", str(error))
    base = connection.base_url.rstrip("/")
    if connection.kind == ConnectionKind.OPENAI:
        body = {
            **connection.params,
            "model": connection.model or "test",
            "messages": [{"role": "user", "content": TEST_PROMPT}],
        }
        request = ("POST", chat_url(base), json.dumps(body).encode())
    else:
        endpoint = f"{connection.kind}:{base}"  # the batching kinds' own health URL
        try:
            request = ("GET", caller_class(endpoint).health_url(endpoint), None)
        except ExecutionError as error:  # a base_url not of the kind's shape (/v2/models/NAME)
            return ProbeResult(False, None, None, "", str(error))

    async def send() -> tuple[httpx.Response, int]:
        async with httpx.AsyncClient(
            transport=http_transport(), timeout=timeout, headers=headers
        ) as client:
            await client.get(base, timeout=min(timeout, 5.0))  # warm: connect is not timed
            started = time.perf_counter()
            method, url, content = request
            reply = await client.request(
                method, url, content=content, headers={"content-type": "application/json"}
            )
            return reply, round((time.perf_counter() - started) * 1000)

    try:
        reply, latency = asyncio.run(send())
    except (httpx.HTTPError, reach.EndpointRefused, OSError) as error:
        return ProbeResult(False, None, None, "", f"{type(error).__name__}: {error}")
    text = reply.content[:2000].decode("utf-8", errors="replace")
    if not 200 <= reply.status_code < 300:
        return ProbeResult(False, latency, reply.status_code, text, f"HTTP {reply.status_code}")
    if connection.kind == ConnectionKind.OPENAI:
        outcome = read_reply(0, reply.content, latency, "text")
        if outcome.error_message:
            return ProbeResult(False, latency, reply.status_code, text, outcome.error_message)
        text = outcome.output_json + (
            f" ({outcome.tokens_used} tokens)" if outcome.tokens_used is not None else ""
        )
    return ProbeResult(True, latency, reply.status_code, text)
