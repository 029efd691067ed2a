"""The HTTP client: one method per API operation, every path in :data:`ENDPOINTS` (a test checks
each against the server's OpenAPI schema, so the two cannot drift)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from mleval_client.versions import Versions
from mleval_client.wire import MlevalError, encode_json, query_value
from mleval_client.wire import object_id as _id

#: name -> (HTTP method, path template, query parameters the client sends).
ENDPOINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cases.list": ("GET", "/api/v1/cases/", ("page_size", "cursor")),
    "cases.create": ("POST", "/api/v1/cases/", ("on_conflict",)),
    "cases.get": ("GET", "/api/v1/cases/{id}/", ()),
    "runs.list": ("GET", "/api/v1/runs/", ("page_size", "cursor")),
    "runs.create": ("POST", "/api/v1/runs/", ()),
    "runs.get": ("GET", "/api/v1/runs/{id}/", ()),
    "runs.responses": ("GET", "/api/v1/runs/{run_id}/responses/", ("page_size", "cursor")),
    "runs.push": ("POST", "/api/v1/runs/{run_id}/responses/", ()),
    "runs.evaluate": ("POST", "/api/v1/runs/{run_id}/evaluate/", ()),
    "runs.report": ("GET", "/api/v1/runs/{run_id}/report/", ()),
    "runs.baseline": ("GET", "/api/v1/runs/{run_id}/baseline/", ()),
    "runs.mark_baseline": ("POST", "/api/v1/runs/{run_id}/baseline/", ()),
    "tasks.get": ("GET", "/api/v1/tasks/{task_id}/", ()),
    "compare": ("GET", "/api/v1/compare/", ("a", "b", "case_limit")),
    "compare_cases": (
        "GET",
        "/api/v1/compare/cases/",
        ("a", "b", "change", "evaluator", "after", "page_size"),
    ),
    "gate": ("GET", "/api/v1/gate/", ("baseline", "candidate", "alpha", "min_delta", "evaluator")),
    "versions.list": ("GET", "/api/v1/versions/", ("page_size", "cursor")),
    "versions.get": ("GET", "/api/v1/versions/{id}/", ()),
    "versions.create": ("POST", "/api/v1/versions/", ()),
    "versions.diff": ("GET", "/api/v1/versions/diff/", ("a", "b")),
    "versions.cases": ("GET", "/api/v1/versions/{pk}/cases/", ("page_size", "cursor")),
}
PAGE_SIZE = 1000  # the API's most per page
PUSH_CHUNK = 5000  # NDJSON lines per POST
FINISHED = ("completed", "failed", "cancelled")


def _records(rows: Any) -> Iterable[dict]:
    """Rows as dicts: a list/iterable of dicts, or a pandas DataFrame (never required)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict("records")
    return rows


class Client:
    """``Client(url, token)``; without them, the MLEVAL_URL and MLEVAL_TOKEN variables."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = url or os.environ.get("MLEVAL_URL")
        token = token or os.environ.get("MLEVAL_TOKEN")
        if not url:
            raise MlevalError("no server: pass Client(url, token) or set MLEVAL_URL")
        headers = {"Accept": "application/json", "User-Agent": "mleval-client/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.cases = Cases(self)
        self.runs = Runs(self)
        self.versions = Versions(self)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        endpoint: str,
        *,
        path: dict | None = None,
        params: dict | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """One call of an :data:`ENDPOINTS` operation; 429s are retried after Retry-After."""
        method, template, _ = ENDPOINTS[endpoint]
        url = template.format(**(path or {}))
        params = {k: query_value(v) for k, v in (params or {}).items() if v is not None}
        headers = {"Content-Type": content_type} if content_type else None
        if json_body is not None:
            content = encode_json(json_body)
            headers = {"Content-Type": "application/json"}
        for attempt in range(6):
            try:
                reply = self.http.request(
                    method, url, params=params, content=content, headers=headers
                )
            except httpx.HTTPError as error:
                raise MlevalError(f"{method} {url}: {error}") from error
            if reply.status_code != 429 or attempt == 5:
                break
            time.sleep(min(float(reply.headers.get("Retry-After") or 1), 30))
        if reply.status_code >= 400:
            try:
                body = reply.json()
            except ValueError:
                body = {"detail": reply.text[:500]}
            detail = body.get("detail") if isinstance(body, dict) else None
            errors = body.get("errors") if isinstance(body, dict) else None
            raise MlevalError(
                detail or f"{method} {url} failed",
                errors,
                reply.status_code,
                body if isinstance(body, dict) else None,
            )
        return reply.json() if reply.content else None

    def pages(self, endpoint: str, *, path: dict | None = None, **params: Any) -> Iterator[dict]:
        """Every item of a cursor-paginated list, following ``next`` to the end."""
        params = {"page_size": PAGE_SIZE, **params}
        while True:
            page = self.request(endpoint, path=path, params=params)
            yield from page["results"]
            if not page.get("next"):
                return
            cursor = httpx.URL(page["next"]).params.get("cursor")
            params = {**params, "cursor": cursor}

    def compare(self, a: Any, b: Any, *, case_limit: int = 0) -> dict:
        """The comparison JSON of run A (baseline) and run B (candidate)."""
        return self.request("compare", params={"a": _id(a), "b": _id(b), "case_limit": case_limit})

    def compare_cases(
        self, a: Any, b: Any, *, change: str = "", evaluator: str = "", page_size: int = 1000
    ) -> Iterator[dict]:
        """Every verdict pair of the comparison, by case id (one ``change`` kind and
        ``evaluator`` if given), following the keyset ``next`` links to the end."""
        params = {"a": _id(a), "b": _id(b), "change": change, "evaluator": evaluator}
        params["page_size"] = page_size
        while True:
            page = self.request("compare_cases", params=params)
            yield from page["results"]
            if not page.get("next"):
                return
            params["after"] = httpx.URL(page["next"]).params.get("after")

    def gate(
        self,
        baseline: Any,
        candidate: Any,
        *,
        alpha: float | None = None,
        min_delta: float | None = None,
        evaluator: str | None = None,
    ) -> dict:
        """The server's gate verdict (``exit_code`` 0/1/2, ``summary``, ``junit``, ``markdown``);
        ``baseline`` may be ``"baseline:<model name>"`` (the run a lead marked that model's
        baseline on the candidate's cases) or ``"latest:<model name>"`` (its newest completed
        run there); ``"baseline"`` / ``"latest"`` alone mean the candidate's own model."""
        params = {
            "baseline": _id(baseline),
            "candidate": _id(candidate),
            "alpha": alpha,
            "min_delta": min_delta,
            "evaluator": evaluator,
        }
        return self.request("gate", params=params)

    def task(self, task_id: str) -> dict:
        return self.request("tasks.get", path={"task_id": task_id})


class Cases:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self, **filters: Any) -> Iterator[dict]:
        """Every case the filters select (the case list's: category, tags, scope, ...)."""
        return self.client.pages("cases.list", **filters)

    def get(self, case: Any) -> dict:
        return self.client.request("cases.get", path={"id": _id(case)})

    def create(self, cases: Any, *, on_conflict: str | None = None) -> list[dict]:
        """Create one case (a dict) or many (a list or DataFrame) in one transaction;
        ``on_conflict`` (error, skip, update) for external_ids that exist."""
        body = cases if isinstance(cases, dict) else list(_records(cases))
        created = self.client.request(
            "cases.create", params={"on_conflict": on_conflict}, json_body=body
        )
        return created if isinstance(created, list) else [created]


class Runs:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self, **filters: Any) -> Iterator[dict]:
        return self.client.pages("runs.list", **filters)

    def get(self, run: Any) -> dict:
        return self.client.request("runs.get", path={"id": _id(run)})

    def create(
        self,
        model_name: str,
        model_version: str,
        model_type: str,
        *,
        selection: dict | None = None,
        version: str | int | None = None,
        model_endpoint: str = "",
        config: dict | None = None,
    ) -> dict:
        """Register a run on a selection (the case list's filters) or a golden-set version."""
        body: dict[str, Any] = {
            "model_name": model_name,
            "model_version": model_version,
            "model_type": model_type,
            "model_endpoint": model_endpoint,
        }
        if selection is not None:
            body["selection"] = selection
        if version is not None:
            body["version"] = _id(version)
        if config is not None:
            body["config"] = config
        return self.client.request("runs.create", json_body=body)

    def responses(self, run: Any) -> Iterator[dict]:
        return self.client.pages("runs.responses", path={"run_id": _id(run)})

    def push(self, run: Any, rows: Any, *, chunk_size: int = PUSH_CHUNK) -> dict:
        """Push responses as NDJSON, ``chunk_size`` lines per request. Each row names its case
        by ``test_case_id`` or ``external_id`` and gives ``output_data`` (optionally
        ``latency_ms``, ``tokens_used``, ``memory_mb``, ``error_message``). Returns the totals
        and the run as the last chunk left it. A refused chunk raises MlevalError naming the
        line (within that chunk) and field; earlier chunks stay stored."""
        totals = {"imported": 0, "created": 0, "replaced": 0, "run": None}
        chunk: list[bytes] = []
        for row in _records(rows):
            chunk.append(encode_json(row))
            if len(chunk) >= chunk_size:
                self._push_chunk(run, chunk, totals)
                chunk = []
        if chunk or totals["run"] is None:
            self._push_chunk(run, chunk, totals)
        return totals

    def _push_chunk(self, run: Any, lines: list[bytes], totals: dict) -> None:
        if not lines:
            raise MlevalError("no rows to push")
        result = self.client.request(
            "runs.push",
            path={"run_id": _id(run)},
            content=b"\n".join(lines) + b"\n",
            content_type="application/x-ndjson",
        )
        for key in ("imported", "created", "replaced"):
            totals[key] += result[key]
        totals["run"] = result["run"]

    def evaluate(
        self,
        run: Any,
        evaluators: list | None = None,
        *,
        wait: bool = True,
        progress: bool | None = None,
        poll: float = 0.5,
        timeout: float | None = None,
    ) -> dict:
        """Score the run (evaluators: names, "NAME:JSON" or {"name", "params"}; None: the
        run's defaults). With ``wait``, poll the task until it ends (a progress bar on stderr
        when it is a terminal, or ``progress=True``) and return its final status; a failed or
        cancelled task raises MlevalError."""
        body = {"evaluators": list(evaluators or [])}
        task = self.client.request("runs.evaluate", path={"run_id": _id(run)}, json_body=body)
        if not wait:
            return task
        show = sys.stderr.isatty() if progress is None else progress
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.client.task(task["task_id"])
            if show:
                _progress_bar(state)
            if state["status"] in FINISHED:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise MlevalError(f"scoring task {task['task_id']} still {state['status']}")
            time.sleep(poll)
        if show:
            sys.stderr.write("\n")
        if state["status"] != "completed":
            raise MlevalError(
                f"scoring {state['status']}: {state.get('error') or 'no reason given'}"
            )
        return state

    def report(self, run: Any, *, fresh: bool = False, timeout: float = 120, poll: float = 0.3):
        """The run report. The server serves its stored figures, marked ``summary.state``
        "computing" while the worker recomputes them (right after scoring, say); ``fresh``
        waits until they are current."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.client.request("runs.report", path={"run_id": _id(run)})
            state = (report.get("summary") or {}).get("state", "fresh")
            if not fresh or state == "fresh" or time.monotonic() > deadline:
                return report
            time.sleep(poll)

    def baseline(self, run: Any) -> dict:
        """Whether the run is its model's baseline on its cases, and which run is. (The API
        answers 404 for a run that is not one, naming the baseline: read as is_baseline False.)"""
        try:
            return self.client.request("runs.baseline", path={"run_id": _id(run)})
        except MlevalError as error:
            if error.status != 404 or "baseline" not in error.body:
                raise
            return {
                "run": _id(run),
                "is_baseline": False,
                "baseline_since": None,
                "baseline": error.body["baseline"],
            }

    def mark_baseline(self, run: Any) -> dict:
        """Make the run its model's baseline on its cases (a lead's token: runs.mark_baseline);
        ``replaced`` names the run that was."""
        return self.client.request("runs.mark_baseline", path={"run_id": _id(run)})


def _progress_bar(state: dict) -> None:
    progress = state.get("progress") or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    share = done / total if total else 0.0
    filled = math.floor(share * 30)
    bar = "#" * filled + "-" * (30 - filled)
    sys.stderr.write(f"\rscoring [{bar}] {done}/{total} {state['status']:<10}")
    sys.stderr.flush()
