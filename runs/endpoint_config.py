"""The run config keys read by the connector endpoint kinds, parsed and checked in one place.

`openai:`, `mlflow:`, `kserve-v1:`, `kserve-v2:` (and `connection:`, which becomes one of them
at registration) read `prompt`, `system`, `model`, `params`, `output`, `features`,
`prediction`, `batch_size`, `rate_limit` and `headers` from the run's config (INTERFACES.md).
Registration (`runs.selection.register_run`, behind the page, `create_run` and the API) calls
`endpoint_errors` through `ModelRun.clean`, so a bad key is refused before the run exists, with
an error naming the key; the callers (runs/callers.py) call `parse_config` again in the worker.

Templates are Jinja2 in its sandbox over the case (`input_data`, `input_type`,
`test_case_id`), with undefined names an error. Header values may reference the worker's
environment as `${NAME}`: only the reference is ever stored or shown; `resolve_headers` runs in
the worker at call time, and its errors name the variable, never a value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

CONNECTOR_KINDS = ("openai:", "mlflow:", "kserve-v1:", "kserve-v2:")
BATCHING_KINDS = ("mlflow:", "kserve-v1:", "kserve-v2:")  # many cases per call
CONNECTION_PREFIX = "connection:"
CONFIG_KEYS = (
    "prompt",
    "system",
    "model",
    "params",
    "output",
    "features",
    "prediction",
    "batch_size",
    "rate_limit",
    "headers",
)
OUTPUTS = ("text", "json", "label")
PREDICTIONS = ("label", "value", "scores", "raw")
DEFAULT_BATCH_SIZE = 64
MAX_BATCH_SIZE = 10_000
PERIODS = {"second": 1, "minute": 60, "hour": 3600}
RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers that carry credentials: their value must come from the environment, never the config.
SECRET_HEADER = re.compile(r"authorization|cookie|key|token|secret|password", re.IGNORECASE)
# Set by the client itself; a config may not override them.
RESERVED_HEADERS = {"content-length", "host", "transfer-encoding", "connection"}


class TemplateProblem(ValueError):
    """A prompt/system template failed on a case; the message names the template and case."""


class MissingVariable(LookupError):
    """A header references an environment variable the worker does not have."""


class UnusableVariable(MissingVariable):
    """A referenced variable's value cannot go in a header (not one line of printable ASCII);
    caught wherever a missing one is."""


def _header_safe(value: str) -> bool:
    return all(char == "\t" or " " <= char <= "~" for char in value)


@dataclass(frozen=True)
class RateLimit:
    requests: int
    period: int  # seconds

    @property
    def interval(self) -> float:
        """Seconds between two requests at this rate (the limiter spaces them evenly)."""
        return self.period / self.requests

    def __str__(self) -> str:
        name = {seconds: name for name, seconds in PERIODS.items()}[self.period]
        return f"{self.requests}/{name}"


@dataclass(frozen=True)
class EndpointConfig:
    """A connector run's config, checked. `prompt` and `system` are template sources."""

    model: str = ""
    prompt: str | None = None
    system: str | None = None
    params: dict = field(default_factory=dict)
    output: str = "text"
    features: str | None = None
    prediction: str | None = None  # None: the caller's default (label for classification)
    batch_size: int = DEFAULT_BATCH_SIZE
    rate_limit: RateLimit | None = None
    headers: dict[str, str] = field(default_factory=dict)


class ConfigErrors(ValueError):
    """The config's problems, one message per bad key, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def is_connector(endpoint: str) -> bool:
    return endpoint.startswith(CONNECTOR_KINDS)


def cases_per_call(endpoint: str, config) -> int | None:
    """Cases one call carries for the batching kinds (runs/batch_callers.py), else None: the
    run's `batch_size`, or the default. Pages and reports say "batched, N cases per call"."""
    if not endpoint.startswith(BATCHING_KINDS):
        return None
    size = config.get("batch_size") if isinstance(config, dict) else None
    valid = isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_BATCH_SIZE
    return size if valid else DEFAULT_BATCH_SIZE


def endpoint_url(endpoint: str) -> str:
    """The server URL an endpoint calls: `openai:https://host/v1` → `https://host/v1`."""
    if is_connector(endpoint):
        return endpoint.split(":", 1)[1]
    return endpoint


def parse_rate_limit(value) -> RateLimit:
    match = RATE_PATTERN.match(value) if isinstance(value, str) else None
    if not match or int(match[1]) < 1:
        raise ValueError(
            'rate_limit: write N/second, N/minute or N/hour with N ≥ 1 (e.g. "600/minute"); '
            f"got {json.dumps(value)}"
        )
    return RateLimit(int(match[1]), PERIODS[match[2]])


def parse_config(config: Mapping | None, *, model_name: str = "") -> EndpointConfig:
    """The connector keys of a run config; ConfigErrors naming each bad key. Other keys are
    left alone (they mean nothing to these kinds, and `selection` is the run's own)."""
    config = config or {}
    problems: list[str] = []
    values: dict = {}

    def text(key: str, *, allow_empty: bool = False) -> None:
        value = config.get(key)
        if value is None:
            return
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            problems.append(f"{key}: must be a non-empty string, got {json.dumps(value)[:80]}")
        else:
            values[key] = value

    for key in ("prompt", "system"):
        text(key)
        if key in values:
            try:
                template(values[key])
            except TemplateError as error:
                problems.append(f"{key}: the template does not parse: {error}")
    text("model")
    text("features")
    if (params := config.get("params")) is not None:
        if not isinstance(params, dict):
            problems.append(
                "params: must be a JSON object of request fields, e.g. "
                '{"temperature": 0, "max_tokens": 256}'
            )
        elif clash := sorted({"model", "messages"} & set(params)):
            problems.append(
                f"params: {', '.join(clash)} cannot be a param (the model is the "
                '"model" key; messages come from the prompt and system templates)'
            )
        else:
            values["params"] = params
    for key, allowed in (("output", OUTPUTS), ("prediction", PREDICTIONS)):
        if (value := config.get(key)) is not None:
            if value not in allowed:
                problems.append(
                    f"{key}: must be one of {', '.join(allowed)}; got {json.dumps(value)[:80]}"
                )
            else:
                values[key] = value
    if (size := config.get("batch_size")) is not None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
            problems.append(
                f"batch_size: must be a whole number from 1 to {MAX_BATCH_SIZE:,}; "
                f"got {json.dumps(size)[:80]}"
            )
        else:
            values["batch_size"] = size
    if (rate := config.get("rate_limit")) is not None:
        try:
            values["rate_limit"] = parse_rate_limit(rate)
        except ValueError as error:
            problems.append(str(error))
    if (headers := config.get("headers")) is not None:
        try:
            values["headers"] = check_headers(headers)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ConfigErrors(problems)
    values.setdefault("model", model_name)
    return EndpointConfig(**values)


def check_headers(headers) -> dict[str, str]:
    """Headers as stored: names and values strings, credentials only as `${NAME}` references."""
    if not isinstance(headers, dict):
        raise ValueError(
            'headers: must be a JSON object, e.g. {"Authorization": "Bearer ${OPENAI_API_KEY}"}'
        )
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"headers: {json.dumps(name)[:80]} is not a header a config may set")
        if not isinstance(value, str) or not _header_safe(value):
            raise ValueError(
                f"headers: the value of {name} must be one line of printable ASCII "
                "(what an HTTP header carries)"
            )
        # Each reference stands in as "_", so "$${A}{b" is "$" + ${A} + "{b", not a new "${".
        leftover = ENV_REFERENCE.sub("_", value)
        if "${" in leftover:
            raise ValueError(
                f"headers: {name} has a malformed reference; write ${{NAME}} with "
                "letters, digits and _"
            )
        if SECRET_HEADER.search(name) and not ENV_REFERENCE.search(value):
            raise ValueError(
                f"headers: {name} carries a credential, so its value must come from the worker's "
                f'environment, e.g. "Bearer ${{API_KEY}}" (the config is stored and shown)'
            )
    return dict(headers)


def header_variables(headers: Mapping[str, str]) -> list[str]:
    """The environment variables the headers reference, in order, once each."""
    names = [name for value in headers.values() for name in ENV_REFERENCE.findall(value)]
    return list(dict.fromkeys(names))


def resolve_headers(
    headers: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The headers with `${NAME}` replaced from the environment (the worker's, at call time).

    Raises MissingVariable naming every variable that is not set (UnusableVariable, naming the
    headers, when a filled-in value cannot be sent). The result must stay in
    memory: never store, log or show it.
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in header_variables(headers) if name not in environ]
    if missing:
        raise MissingVariable(
            "the run's headers reference "
            + ", ".join(f"${{{name}}}" for name in missing)
            + ", not set in the worker's environment"
        )
    resolved = {
        name: ENV_REFERENCE.sub(lambda match: environ[match[1]], value)
        for name, value in headers.items()
    }
    unusable = [name for name, value in resolved.items() if not _header_safe(value)]
    if unusable:  # names only: the values may be secrets
        raise UnusableVariable(
            "the value of header " + ", ".join(unusable) + " is not one line of printable "
            "ASCII once its ${NAME} references are filled in from the worker's environment"
        )
    return resolved


# --- templates ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=64)
def template(source: str):
    """The compiled sandboxed template (cached: a run renders one template per case)."""
    return _environment().from_string(source)


def render(key: str, source: str, test_case_id: int, input_data, input_type: str) -> str:
    """Render the `key` template over one case; TemplateProblem naming the case on failure."""
    try:
        return template(source).render(
            input_data=input_data, input_type=input_type, test_case_id=test_case_id
        )
    except Exception as error:  # the sandbox's SecurityError, undefined names, a filter's error
        raise TemplateProblem(
            f"the {key} template failed on case {test_case_id}: {type(error).__name__}: {error}"
        ) from None


def default_prompt(input_data) -> str:
    """The prompt without a template: the input's text (its `text` key, or the input if it is a
    string), else the input as JSON."""
    if isinstance(input_data, str):
        return input_data
    if isinstance(input_data, dict) and isinstance(input_data.get("text"), str):
        return input_data["text"]
    return json.dumps(input_data, ensure_ascii=False)


# --- registration ---------------------------------------------------------------------------


def python_module_refusal(endpoint: str) -> str:
    """Why a `python:module:function` endpoint may not be used (empty: it may).

    Importing a module runs its code, so only modules under MLEVAL_PYTHON_ENDPOINT_MODULES
    (settings: read alike by the web process and the worker) can be named by a run.
    """
    parts = endpoint.split(":")
    if len(parts) != 3:
        return "Write python:package.module:function."
    module_name = parts[1]
    allowed = settings.MLEVAL_PYTHON_ENDPOINT_MODULES
    if any(module_name == m or module_name.startswith(f"{m}.") for m in allowed):
        return ""
    return (
        f"Python endpoints may only use the modules {', '.join(allowed) or '(none)'} "
        f"(MLEVAL_PYTHON_ENDPOINT_MODULES); {module_name} is not one of them."
    )


def endpoint_errors(endpoint: str, config, model_name: str = "") -> dict[str, list[str]]:
    """What registration refuses about a run's endpoint and config, by field (empty: fine)."""
    errors: dict[str, list[str]] = {}
    if endpoint.startswith("python:") and (reason := python_module_refusal(endpoint)):
        errors["model_endpoint"] = [reason]
    if is_connector(endpoint) and isinstance(config, dict):
        try:
            parse_config(config, model_name=model_name)
        except ConfigErrors as error:
            errors["config"] = error.problems
    return errors
