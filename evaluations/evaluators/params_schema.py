"""Each evaluator's parameters as JSON Schema, generated from its Param specs, for the API's
schema (`POST /api/v1/runs/<id>/evaluate/`): a request valid by it is accepted.

A Param's type gives the schema (`number` with its bounds, `string list` a string or a list of
them...), null where the parameter takes it (no default, not required), its `schema` where a
`check` lets less through; an Evaluator's `params_rules` add its cross-parameter rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mleval_site.api_schema import json_object, text

from .base import Evaluator, EvaluatorConfigError, Param


def _by_type(param: Param) -> dict[str, Any]:
    bounds = {
        key: value
        for key, value in (("minimum", param.minimum), ("maximum", param.maximum))
        if value is not None
    }
    if param.type in ("number", "integer"):
        return {"type": param.type, **bounds}
    if param.type == "boolean":
        return {"type": "boolean"}
    if param.type == "string":
        return text()
    if param.type == "string list":
        return {"anyOf": [text(), {"type": "array", "items": text()}]}
    if param.type == "JSON Schema":
        return {"anyOf": [json_object(), {"type": "boolean"}]}
    if param.type == "JSON object":
        return json_object()
    raise ValueError(f"no JSON Schema for the parameter type {param.type!r}")


def param_schema(param: Param) -> dict[str, Any]:
    """What `param.coerce` accepts (null: the default, when there is none)."""
    schema = dict(param.schema or _by_type(param))
    if param.help:
        schema["description"] = param.help
    if param.default is None and not param.required:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def params_object(evaluator: Evaluator, without: Iterable[str] = ()) -> dict[str, Any]:
    """The evaluator's params object: its parameters and nothing else, the required ones."""
    params = [p for p in evaluator.params if p.name not in set(without)]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: param_schema(p) for p in params},
        "additionalProperties": False,
    }
    if required := [p.name for p in params if p.required]:
        schema["required"] = required
    if evaluator.params_rules:
        schema["allOf"] = [evaluator.params_rules]
    return schema


def _takes_no_params(evaluator: Evaluator) -> bool:
    try:
        evaluator.validate_params(None)
    except EvaluatorConfigError:
        return False
    return True


def evaluator_spec_schema(evaluators: Mapping[str, Evaluator]) -> dict[str, Any]:
    """One item of a list of evaluators: a bare name (those that need no parameter), or
    {"name", "params"} per evaluator (params optional, or null, when it needs none)."""
    bare = sorted(name for name, e in evaluators.items() if _takes_no_params(e))
    variants: list[dict[str, Any]] = [{"type": "string", "enum": bare}]
    for name in sorted(evaluators):
        evaluator = evaluators[name]
        params = params_object(evaluator)
        optional = _takes_no_params(evaluator)
        variants.append(
            {
                "type": "object",
                "title": name,
                "properties": {
                    "name": {"const": name},
                    "params": {"anyOf": [params, {"type": "null"}]} if optional else params,
                },
                "required": ["name"] if optional else ["name", "params"],
                "additionalProperties": False,
            }
        )
    return {"oneOf": variants}
