"""Evaluators for arbitrary JSON: equality and JSON Schema validity."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.validators import validator_for
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing.exceptions import Unresolvable

from .base import Evaluator, Example, GroundTruthError, Param, Verdict

# At most this many validation messages, each at most this long, go into metrics.
MAX_SCHEMA_ERRORS = 10
MAX_SCHEMA_MESSAGE = 300


_NUMBERS = (int, float)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values as JSON means it.

    Objects compare regardless of key order, arrays in order, 1 equals 1.0, but
    true is not 1 (as it would be for Python's ==) and NaN equals nothing.
    Iterative, so however deeply a model nests its output this cannot overflow
    the stack.
    """
    stack = [(a, b)]
    while stack:
        a, b = stack.pop()
        ta, tb = type(a), type(b)
        if ta is bool or tb is bool:
            if ta is not tb or a is not b:
                return False
        elif ta in _NUMBERS and tb in _NUMBERS:
            if a != b:
                return False
        elif ta is not tb:
            return False
        elif ta is dict:
            if a.keys() != b.keys():
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif ta is list:
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif a != b:
            return False
    return True


def exact_match(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    equal = json_equal(output, truth)
    feedback = (
        "Output equals the ground truth." if equal else "Output differs from the ground truth."
    )
    return Verdict(1.0 if equal else 0.0, equal, {}, feedback)


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=256)
def _validator(canonical_schema: str) -> Any:
    """A checked validator per distinct schema, built once however many responses
    use it. Raises SchemaError for an invalid schema.

    The registry holds only the meta-schemas: jsonschema's default would fetch a
    remote ``$ref`` over HTTP, which a pure evaluator must never do.
    """
    schema = json.loads(canonical_schema)
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, registry=META_SCHEMAS)


def check_schema(schema: Any) -> None:
    """Raise ValueError with the reason when ``schema`` is not a valid JSON Schema."""
    if not isinstance(schema, dict | bool):
        raise ValueError(f"a JSON Schema must be an object or a boolean, got {schema!r}")
    try:
        _validator(_canonical(schema))
    except SchemaError as exc:
        raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
    except (TypeError, ValueError) as exc:  # not JSON-serialisable
        raise ValueError(f"is not a valid JSON Schema: {exc}") from None


def _message(error: Any) -> str:
    path = error.json_path
    message = error.message
    if len(message) > MAX_SCHEMA_MESSAGE:
        message = message[: MAX_SCHEMA_MESSAGE - 1] + "…"
    return f"{path}: {message}"


def json_schema(output: Any, truth: Any, params: Mapping[str, Any]) -> Verdict:
    schema = params["schema"]
    if schema is None:
        if type(truth) is not dict or "schema" not in truth:
            raise GroundTruthError(
                'missing key "schema" (a JSON Schema) and no "schema" parameter was given'
            )
        schema = truth["schema"]
        try:
            check_schema(schema)
        except ValueError as exc:
            raise GroundTruthError(f'"schema" {exc}') from None
    validator = _validator(_canonical(schema))
    errors = []
    count = 0
    try:
        for error in validator.iter_errors(output):
            count += 1
            if count <= MAX_SCHEMA_ERRORS:
                errors.append(_message(error))
    except RecursionError:
        message = (
            "validation recursed too deeply (a self-referencing schema or a deeply nested output)"
        )
        return Verdict(0.0, False, {"error": message}, f"Cannot check the output: {message}.")
    except Unresolvable as exc:
        message = f"the JSON Schema has a $ref that cannot be resolved offline ({exc})"
        if params["schema"] is None:
            raise GroundTruthError(f'"schema": {message}') from None
        return Verdict(0.0, False, {"error": message}, f"Cannot check the output: {message}.")
    errors.sort()
    valid = count == 0
    if valid:
        feedback = "Output is valid against the JSON Schema."
    else:
        more = f" ({count} errors)" if count > 1 else ""
        feedback = f"Output is not valid against the JSON Schema{more}: {errors[0]}"
        if not feedback.endswith("."):
            feedback += "."
    metrics = {"errors": errors, "error_count": count}
    return Verdict(1.0 if valid else 0.0, valid, metrics, feedback)


def _check_schema_param(value: Any) -> None:
    check_schema(value)


EVALUATORS = [
    Evaluator(
        name="exact_match",
        version="1",
        description=(
            "1 when output and ground truth are equal as JSON values: object keys in any "
            "order, arrays in order, 1 equals 1.0, true is not 1."
        ),
        expects="any JSON value on both sides",
        passed_when="the values are equal",
        params=(),
        example=Example({"name": "Ada", "tags": ["x", 1]}, {"tags": ["x", 1.0], "name": "Ada"}),
        score=exact_match,
    ),
    Evaluator(
        name="json_schema",
        version="1",
        description=(
            "1 when the output is valid against a JSON Schema (the draft its $schema "
            f"names, 2020-12 otherwise; formats not asserted). Metrics: up to "
            f"{MAX_SCHEMA_ERRORS} error messages and error_count."
        ),
        expects=(
            'output: any JSON value; the schema comes from the parameter "schema" or, '
            'when that is not given, from the ground truth {"schema": {...}}'
        ),
        passed_when="the output is valid",
        params=(
            Param(
                "schema",
                "JSON Schema",
                None,
                'the schema for every case; when omitted, each ground truth\'s "schema"',
                check=_check_schema_param,
            ),
        ),
        example=Example(
            {"name": "Ada", "age": 36},
            {
                "schema": {
                    "type": "object",
                    "required": ["name", "age"],
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                }
            },
        ),
        score=json_schema,
    ),
]
