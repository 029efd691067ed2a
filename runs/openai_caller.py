"""The `openai:<base URL>` endpoint kind: any OpenAI-compatible chat completions server.

One `POST <base URL>/chat/completions` per case with `model` (the config's, default the run's
model name), `messages` (the `system` template, if any, then the `prompt` template, default the
input's text) and the config's `params` merged in. The reply's `choices[0].message.content`
becomes `{"text": ...}`, the parsed JSON object (`"output": "json"`) or `{"label": ...}`
(`"output": "label"`); `usage` fills `tokens_used`. Retries, `Retry-After`, the rate limit and
headers are HttpCaller's.
"""

from __future__ import annotations

import dataclasses
import json

import httpx

from mleval_site import jsonsafe
from runs.callers import Claimed, ExecutionOptions, Outcome, _outcome, register
from runs.endpoint_config import default_prompt, render
from runs.http_callers import HttpCaller, _snippet
from runs.models import ModelRun


def chat_url(base: str) -> str:
    return f"{base.rstrip('/')}/chat/completions"


@register("openai:")
class OpenAICaller(HttpCaller):
    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        super().__init__(run, options)
        base = run.model_endpoint.removeprefix("openai:").rstrip("/")
        self.url = chat_url(base)
        self.warm_url = f"{base}/models"
        self.config = self.endpoint_config

    def request_body(self, case: Claimed) -> bytes:
        return json.dumps(self.request(case, json.loads(case.input_json))).encode()

    def request(self, case: Claimed, input_data) -> dict:
        """The chat completions request for one case (TemplateProblem if a template fails)."""
        config = self.config
        messages = []
        if config.system is not None:
            system = render("system", config.system, case.test_case_id, input_data, case.input_type)
            messages.append({"role": "system", "content": system})
        if config.prompt is not None:
            prompt = render("prompt", config.prompt, case.test_case_id, input_data, case.input_type)
        else:
            prompt = default_prompt(input_data)
        messages.append({"role": "user", "content": prompt})
        return {**config.params, "model": config.model, "messages": messages}

    def answer(self, case: Claimed, reply: httpx.Response, latency: float) -> Outcome:
        return read_reply(case.test_case_id, reply.content, latency, self.config.output)


def read_reply(case_id: int, body: bytes, latency: float | None, output: str) -> Outcome:
    """A chat completions reply → the case's Outcome (failed, naming why, when unusable)."""

    def failed(problem: str) -> Outcome:
        return Outcome(case_id, latency_ms=latency, error_message=problem)

    try:
        reply = jsonsafe.loads(body)
    except ValueError:
        return failed(f"the server replied with a non-JSON body: {_snippet(body)}")
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return failed(f"the reply has no choices[0].message.content: {_snippet(body)}")
    if not isinstance(content, str):
        return failed("the reply's message has no text content (null or not a string)")
    if output == "json":
        try:
            value = jsonsafe.loads(_unfenced(content).encode())
        except ValueError as error:
            return failed(
                f'the reply is not JSON ("output": "json"): {error}: {_snippet(content.encode())}'
            )
        if not isinstance(value, dict):
            return failed(
                f'the reply is JSON but not an object ("output": "json"): '
                f"{_snippet(content.encode())}"
            )
        data = value
    elif output == "label":
        data = {"label": content.strip()}
    else:
        data = {"text": content}
    outcome = _outcome(case_id, data, latency)
    return dataclasses.replace(outcome, tokens_used=_tokens(reply.get("usage")))


def _unfenced(content: str) -> str:
    """Chat models often wrap JSON in a ```json fence; read what is inside."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```") and "\n" in text:
        return text[text.index("\n") + 1 : -3]
    return text


def _tokens(usage) -> int | None:
    if not isinstance(usage, dict):
        return None
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        total = usage.get("total_tokens")
        counts = [total] if isinstance(total, int) and not isinstance(total, bool) else []
    total = sum(counts) if counts else None
    return total if total is not None and 0 <= total < 2**31 else None
