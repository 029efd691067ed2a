"""Real model servers for the batching kinds: MLflow's scoring app and a KServe ModelServer.

`Served` runs an ASGI app under uvicorn on 127.0.0.1 in a thread and records each POST (path
and rows), and can answer the next calls itself first (`refuse_next`: a 429 with Retry-After,
as a gateway in front of the model would). `mlflow_scoring_app` trains a scikit-learn
classifier, saves it as an MLflow model and returns MLflow's own scoring app for it (what
`mlflow models serve` runs). `KserveServer` starts tests/runs/kserve_model.py in a process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

KSERVE_MODEL = Path(__file__).with_name("kserve_model.py")


class Served:
    """An ASGI app served for real on a free local port, its POSTs recorded."""

    def __init__(self, app) -> None:
        self.app = app
        self.calls: list[tuple[str, int]] = []  # (path, rows in the body)
        self.refusals: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0  # seconds each POST waits before it is answered
        self.gets: list[str] = []  # the paths of the other requests (health checks)
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(self.record, log_level="warning", lifespan="off", interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def refuse_next(self, status: int, headers: dict[str, str] | None = None, times: int = 1):
        self.refusals.extend([(status, headers or {})] * times)

    def rows_per_call(self, path: str = "/invocations") -> list[int]:
        return [rows for called, rows in self.calls if called == path]

    async def record(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            if scope["type"] == "http":
                self.gets.append(scope["path"])
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            payload = json.loads(body)
            rows = next(len(v) for v in payload.values() if isinstance(v, list))
        except (ValueError, StopIteration, AttributeError):
            rows = 0
        with self.lock:
            self.calls.append((scope["path"], rows))
            refusal = self.refusals.pop(0) if self.refusals else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if refusal:
            status, headers = refusal
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": b'{"error": "slow down"}'})
            return None
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def mlflow_scoring_app(directory: Path):
    """MLflow's scoring server app for a logistic regression on columns x1, x2 (label: whether
    x1 + x2 > 0), saved with its signature, so a row of the wrong type is refused (HTTP 400)."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.pyfunc import scoring_server
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(400, 2)), columns=["x1", "x2"])
    labels = (features.x1 + features.x2 > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    path = directory / "model"
    if not path.exists():
        signature = infer_signature(features, model.predict(features))
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=signature,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return scoring_server.init(mlflow.pyfunc.load_model(str(path)))


class KserveServer:
    """tests/runs/kserve_model.py in its own process (KServe's ModelServer owns its loop and
    signals), ready when its model answers; `predict_calls` reads KServe's own metrics."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> KserveServer:
        self.process = subprocess.Popen(
            [sys.executable, str(KSERVE_MODEL), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/v1/models/adder", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the KServe model server did not start")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def predict_calls(self) -> int:
        """How many predict calls the server has run (KServe's request_predict_seconds)."""
        metrics = httpx.get(f"{self.url}/metrics", timeout=5).text
        for line in metrics.splitlines():
            if line.startswith('request_predict_seconds_count{model_name="adder"}'):
                return int(float(line.split()[-1]))
        return 0
