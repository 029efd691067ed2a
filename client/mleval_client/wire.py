"""What goes over the wire: the client's one error type, how an object is named (its id),
and how values become query parameters and JSON bodies (numpy and pandas values included)."""

from __future__ import annotations

import json
from typing import Any


class MlevalError(Exception):
    """Any failed call: the API's ``detail`` and ``errors`` ({field: [messages]}), the HTTP
    ``status`` (None when the server could not be reached), and the whole error ``body``."""

    def __init__(
        self,
        detail: str,
        errors: dict | None = None,
        status: int | None = None,
        body: dict | None = None,
    ):
        super().__init__(f"{detail} (HTTP {status})" if status else detail)
        self.detail = detail
        self.errors = errors or {}
        self.status = status
        self.body = body or {}


def object_id(obj: Any) -> Any:
    """A run, case or version given as its dict (from the API) or as its id."""
    return obj["id"] if isinstance(obj, dict) else obj


def query_value(value: Any) -> Any:
    """A query value as the API reads it: lists (tags, ids; a run's stored selection has them)
    comma-separated, booleans true/false."""
    if isinstance(value, list | tuple | set):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def encode_json(value: Any) -> bytes:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), default=_default).encode()
    except ValueError as error:
        raise MlevalError(f"not valid JSON (NaN or infinity?): {error}") from None


def _default(value: Any) -> Any:
    """numpy and pandas scalars (item()) and arrays (tolist())."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
