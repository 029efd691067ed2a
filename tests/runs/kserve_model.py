"""A KServe ModelServer (the `kserve` package, v1 and v2 protocols) for the batching tests.

Run as `python tests/runs/kserve_model.py PORT`: serves the model `adder` over REST only.
v1 `{"instances": [[...], ...]}` → `{"predictions": [sum > 0 as 0/1, ...]}`; v2 one tensor
[n, d] → output `label` [n] (INT64), or [n, 2] class probabilities when the request's tensor is
named `proba`. A row with a negative first value is refused (InvalidInput → HTTP 400), so a
batch with one such row fails as a whole, the way a real model server refuses a bad row.
"""

import sys

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.errors import InvalidInput


class Adder(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ready = True

    def predict(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            tensor = payload.inputs[0]
            rows = np.asarray(tensor.data, dtype=np.float64).reshape(tensor.shape)
            self._check(rows)
            positive = (rows.sum(axis=1) > 0).astype(np.int64)
            if tensor.name == "proba":
                share = 1 / (1 + np.exp(-rows.sum(axis=1)))
                data = np.stack([1 - share, share], axis=1)
                output = InferOutput("proba", list(data.shape), "FP64", data.ravel().tolist())
            else:
                output = InferOutput("label", [len(rows)], "INT64", positive.tolist())
            return InferResponse(payload.id or "batch", self.name, [output])
        rows = np.asarray(payload["instances"], dtype=np.float64)
        self._check(rows)
        return {"predictions": (rows.sum(axis=1) > 0).astype(int).tolist()}

    @staticmethod
    def _check(rows: np.ndarray) -> None:
        if (rows[:, 0] < 0).any():
            raise InvalidInput(f"row {int(np.argmax(rows[:, 0] < 0))}: negative first feature")


if __name__ == "__main__":
    ModelServer(http_port=int(sys.argv[1]), enable_grpc=False, workers=1).start([Adder("adder")])
