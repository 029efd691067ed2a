"""Batching endpoint kinds: `mlflow:`, `kserve-v1:` and `kserve-v2:` send many cases per call.

Model servers for tabular models answer a whole batch in about the time of one row, so these
kinds group the cases the executor hands over into calls of `batch_size` rows (run config,
default 64). Each kind says how a case becomes a row (`row`), how rows become a request body
(`encode`) and how the reply becomes one prediction per row (`predictions`); the shared part
here sends, retries, splits and maps predictions to `output_data` (`prediction` config key).

A batch whose call fails is retried by the HTTP rules (runs/callers.py), then, when the server
did answer (an HTTP error, or a reply that does not fit the batch), split in halves, each sent
again (5xx no longer retried: they were), so a bad row ends up failing alone with the server's
own error while the others get their predictions. A batch that could not reach the server at
all (connection refused, timeout) is not split: every row fails with that error. A batch's wall
time is divided over its rows for their latency.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, ClassVar

import numpy as np

from mleval_site import jsonsafe
from runs.callers import ExecutionError, ExecutionOptions, Outcome, _outcome, register
from runs.http_callers import HttpCaller
from runs.models import ModelRun

HTTP_URL = re.compile(r"^https?://[^\s/]+")


class RowProblem(ValueError):
    """A case that cannot become a row of this kind; it fails alone, the batch goes on."""


# --- predictions → output_data ----------------------------------------------------------------


def _squeeze(value: Any) -> Any:
    """A one-element list or one-key object stands for its element (`[1]`, `{"predicted": 1}`)."""
    while (isinstance(value, list) and len(value) == 1) or (
        isinstance(value, dict) and len(value) == 1
    ):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _distribution(value: Any) -> dict[str, float] | None:
    """A predict_proba-style row (a list of numbers, or an object of numbers) keyed by class."""
    if isinstance(value, list) and len(value) > 1 and all(_number(v) for v in value):
        return {str(index): v for index, v in enumerate(value)}
    if isinstance(value, dict) and len(value) > 1 and all(_number(v) for v in value.values()):
        return {str(key): v for key, v in value.items()}
    return None


def label_text(value: Any) -> str:
    """A predicted class as its canonical string: `true`/`false`, `1` for 1.0, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shape_prediction(prediction: Any, mode: str) -> dict:
    """One row's prediction → output_data, per the `prediction` config key.

    `label`: `{"label": str}` (a distribution gives its most likely class); `value`:
    `{"value": number}`; `scores`: `{"label", "scores": {class: probability}}`; `raw`: the
    prediction itself when it is an object, else `{"prediction": p}`. ValueError when the
    prediction cannot be read that way.
    """
    if mode == "raw":
        return prediction if isinstance(prediction, dict) else {"prediction": prediction}
    distribution = _distribution(prediction)
    if mode == "scores":
        if distribution is None:
            raise ValueError(
                f"prediction is scores, but the model answered {_brief(prediction)} "
                "(not a list or object of class probabilities)"
            )
        return {"label": max(distribution, key=distribution.__getitem__), "scores": distribution}
    value = _squeeze(prediction)
    if mode == "value":
        if not _number(value):
            raise ValueError(f"prediction is value, but the model answered {_brief(prediction)}")
        return {"value": value}
    if distribution is not None:
        return {"label": max(distribution, key=distribution.__getitem__)}
    if isinstance(value, str | int | float | bool) and value is not None:
        return {"label": label_text(value)}
    raise ValueError(f"prediction is label, but the model answered {_brief(prediction)}")


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:80] + "…"


# --- the shared batching caller ---------------------------------------------------------------


class BatchCaller(HttpCaller):
    """Sends `batch_size` cases per call; a subclass is one batching endpoint kind."""

    kind: ClassVar[str] = ""

    def __init__(self, run: ModelRun, options: ExecutionOptions) -> None:
        super().__init__(run, options)
        self.config = self.endpoint_config
        self.batch_size = self.config.batch_size
        self.url = self.request_url(run.model_endpoint)
        self.warm_url = self.health_url(run.model_endpoint)
        self.features = self.config.features

    @classmethod
    def check(cls, endpoint: str) -> None:
        super().check(endpoint)  # the allowed hosts
        cls.request_url(endpoint)

    @classmethod
    def base_url(cls, endpoint: str) -> str:
        base = endpoint[len(cls.kind) :].rstrip("/")
        if not HTTP_URL.match(base):
            raise ExecutionError(f"Write {cls.kind}http(s)://host[:port]/...; got {endpoint}")
        return base

    @classmethod
    def request_url(cls, endpoint: str) -> str:
        """The URL the calls go to; ExecutionError when the endpoint is not of this kind."""
        raise NotImplementedError

    @classmethod
    def health_url(cls, endpoint: str) -> str:
        """A cheap GET of the server's, to open the connections before the first timed call."""
        raise NotImplementedError

    # a case → a row, rows → a body, a reply → predictions

    def record(self, input_data: Any) -> Any:
        """The case's row: its input's `features` key, or the whole input."""
        if self.features is None:
            return input_data
        if not isinstance(input_data, dict) or self.features not in input_data:
            raise RowProblem(f"the input has no {json.dumps(self.features)} key (config features)")
        return input_data[self.features]

    def row(self, input_data: Any) -> Any:
        return self.record(input_data)

    def group(self, row: Any) -> Any:
        """Rows of different groups cannot share a call (e.g. tensors of different widths)."""
        return None

    def encode(self, rows: list, group: Any) -> bytes:
        raise NotImplementedError

    def predictions(self, reply: Any, count: int) -> list:
        raise NotImplementedError

    @staticmethod
    def _listed(reply: Any, key: str, count: int) -> list:
        predictions = reply.get(key) if isinstance(reply, dict) else reply
        if not isinstance(predictions, list):
            raise ValueError(f'the reply has no "{key}" list: {_brief(reply)}')
        if len(predictions) != count:
            raise ValueError(f"the reply has {len(predictions)} predictions for {count} rows")
        return predictions

    # sending

    def submit(self, cases: list) -> None:
        self.loop.call_soon_threadsafe(self._spawn_batches, cases)

    def _spawn_batches(self, cases: list) -> None:
        for start in range(0, len(cases), self.batch_size):
            task = self.loop.create_task(self._batch(cases[start : start + self.batch_size]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _batch(self, cases: list) -> None:
        try:
            outcomes = await self._rows(cases)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never lose a case: anything unexpected is their failure
            outcomes = [
                Outcome(c.test_case_id, error_message=f"mleval error: {error!r}") for c in cases
            ]
        for outcome in outcomes:
            self.results.put(outcome)

    async def _rows(self, cases: list) -> list[Outcome]:
        outcomes: list[Outcome] = []
        groups: dict[Any, list[tuple]] = {}
        for case in cases:
            try:
                row = self.row(json.loads(case.input_json))
            except RowProblem as problem:
                outcomes.append(Outcome(case.test_case_id, error_message=str(problem)))
                continue
            groups.setdefault(self.group(row), []).append((case, row))
        sent = await asyncio.gather(*(self._send(rows, key) for key, rows in groups.items()))
        return outcomes + [outcome for part in sent for outcome in part]

    async def _send(self, rows: list[tuple], key: Any, first: bool = True) -> list[Outcome]:
        """Call with these rows; on an answered failure split them in halves and call again."""
        body = self.encode([row for _, row in rows], key)
        posted = await self.post(self.url, body, retry_server_errors=first)
        answered = posted.latency is not None  # the server replied (a status, a body)
        share = round(posted.latency / len(rows), 3) if answered else None
        problem = posted.problem
        if posted.reply is not None:
            try:
                predictions = self.predictions(jsonsafe.loads(posted.reply.content), len(rows))
            except ValueError as error:
                problem = f"the endpoint's reply does not fit the batch: {error}"
            else:
                return [
                    self._answer_row(case, prediction, share)
                    for (case, _), prediction in zip(rows, predictions, strict=True)
                ]
        if len(rows) > 1 and answered:  # maybe one row's fault: halve until it fails alone
            half = len(rows) // 2
            parts = await asyncio.gather(
                self._send(rows[:half], key, first=False), self._send(rows[half:], key, first=False)
            )
            return parts[0] + parts[1]
        return [
            Outcome(case.test_case_id, latency_ms=share, error_message=problem) for case, _ in rows
        ]

    def _answer_row(self, case, prediction: Any, latency: float | None) -> Outcome:
        mode = self.config.prediction or ("value" if case.output_type == "regression" else "label")
        try:
            output = shape_prediction(prediction, mode)
        except ValueError as error:
            return Outcome(case.test_case_id, latency_ms=latency, error_message=str(error))
        return _outcome(case.test_case_id, output, latency)


@register("mlflow:")
class MlflowCaller(BatchCaller):
    """An MLflow scoring server: `POST <base>/invocations` with `{"dataframe_records": [...]}`
    (object rows; other rows go as `{"instances": [...]}`), reply `{"predictions": [...]}`."""

    kind = "mlflow:"

    @classmethod
    def request_url(cls, endpoint: str) -> str:
        base = cls.base_url(endpoint)
        return base if base.endswith("/invocations") else f"{base}/invocations"

    @classmethod
    def health_url(cls, endpoint: str) -> str:
        return f"{cls.request_url(endpoint).removesuffix('/invocations')}/ping"

    def group(self, row: Any) -> str:
        return "dataframe_records" if isinstance(row, dict) else "instances"

    def encode(self, rows: list, group: Any) -> bytes:
        return json.dumps({group: rows}, ensure_ascii=False, separators=(",", ":")).encode()

    def predictions(self, reply: Any, count: int) -> list:
        return self._listed(reply, "predictions", count)


KSERVE_V1 = re.compile(r"^(?P<model>https?://\S+/v1/models/[^/:\s]+)(:predict)?$")
KSERVE_V2 = re.compile(r"^(?P<model>https?://\S+/v2/models/[^/\s]+(/versions/[^/\s]+)?)(/infer)?$")


@register("kserve-v1:")
class KserveV1Caller(BatchCaller):
    """KServe's v1 protocol: `POST …/v1/models/<name>:predict` with `{"instances": [...]}`."""

    kind = "kserve-v1:"

    @classmethod
    def request_url(cls, endpoint: str) -> str:
        match = KSERVE_V1.match(cls.base_url(endpoint))
        if not match:
            raise ExecutionError(
                f"Write kserve-v1:http(s)://host[:port]/v1/models/<name>; got {endpoint}"
            )
        return f"{match['model']}:predict"

    @classmethod
    def health_url(cls, endpoint: str) -> str:
        return cls.request_url(endpoint).removesuffix(":predict")  # the model's status

    def encode(self, rows: list, group: Any) -> bytes:
        return json.dumps({"instances": rows}, ensure_ascii=False, separators=(",", ":")).encode()

    def predictions(self, reply: Any, count: int) -> list:
        return self._listed(reply, "predictions", count)


INT64 = (-(2**63), 2**63 - 1)


def tensor_datatype(values: list) -> tuple[str, list]:
    """A tensor's datatype from its values, and the values to send: INT64 when every value is
    an integer in range, FP32 when every value survives float32 exactly, else FP64."""
    if all(isinstance(v, int) and INT64[0] <= v <= INT64[1] for v in values):
        return "INT64", values
    array = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        exact = bool((array.astype(np.float32) == array).all())
    return ("FP32" if exact else "FP64"), array.tolist()


@register("kserve-v2:")
class KserveV2Caller(BatchCaller):
    """The Open Inference Protocol (KServe v2, Triton, MLServer): `POST …/infer` with one
    tensor `[rows, width]` named after the `features` key (`input-0` without one): INT64 when
    every value is an integer, FP32 when every value survives float32 exactly, else FP64.
    The reply's `outputs[0]` (flat `data`, reshaped by `shape`) gives one prediction per row."""

    kind = "kserve-v2:"

    @classmethod
    def request_url(cls, endpoint: str) -> str:
        match = KSERVE_V2.match(cls.base_url(endpoint))
        if not match:
            raise ExecutionError(
                f"Write kserve-v2:http(s)://host[:port]/v2/models/<name>; got {endpoint}"
            )
        return f"{match['model']}/infer"

    @classmethod
    def health_url(cls, endpoint: str) -> str:
        return f"{cls.request_url(endpoint).removesuffix('/infer')}/ready"

    def row(self, input_data: Any) -> list:
        row = self.record(input_data)
        if not isinstance(row, list) or not row or not all(_number(v) for v in row):
            where = f"the input's {json.dumps(self.features)}" if self.features else "the input"
            raise RowProblem(f"{where} must be a non-empty list of numbers for a tensor row")
        return row

    def group(self, row: list) -> int:
        return len(row)

    def encode(self, rows: list, group: Any) -> bytes:
        datatype, flat = tensor_datatype([value for row in rows for value in row])
        tensor = {
            "name": self.features or "input-0",
            "shape": [len(rows), group],
            "datatype": datatype,
            "data": flat,
        }
        return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()

    def predictions(self, reply: Any, count: int) -> list:
        outputs = reply.get("outputs") if isinstance(reply, dict) else None
        if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
            raise ValueError(f'the reply has no "outputs" tensor: {_brief(reply)}')
        data, shape = outputs[0].get("data"), outputs[0].get("shape")
        if not isinstance(data, list) or not isinstance(shape, list) or not shape:
            raise ValueError('the reply\'s outputs[0] needs "data" and "shape" lists')
        if shape[0] != count:
            raise ValueError(f"the reply's outputs[0] has shape {shape} for {count} rows")
        width = math.prod(shape[1:]) if len(shape) > 1 else 1
        if len(data) != count * width:
            raise ValueError(f"the reply's outputs[0] has {len(data)} values for shape {shape}")
        if len(shape) == 1:
            return data
        return [data[index * width : (index + 1) * width] for index in range(count)]
