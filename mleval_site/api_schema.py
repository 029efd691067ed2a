"""The OpenAPI schema's shared parts: the one error format, status codes, JSON values, paging.

The schema must say exactly what the API accepts and answers (tests/api/test_schema.py runs
schemathesis with every check against it), so the rules every endpoint shares are described
here once and applied by the drf-spectacular postprocessing hook `complete_schema`:

- every operation documents the error responses that can happen to it (`ERROR_CODES`), all
  with the one body `{"detail": "...", "errors": {"field": ["..."]}}` (`Error`);
- every free-text query parameter is read through a Django form field, which refuses NUL
  characters: the hook gives such parameters the `NO_NUL` pattern;
- JSON bodies go into jsonb, which cannot hold a NUL in any string or key: `json_value()`
  and `json_object()` describe such values (OpenAPI 3.1, for `propertyNames`).

A new endpoint gets all of that by being under /api/v1/; see docs/api.md for what else it
needs (bounds on its own parameters, request schemas that match its validator).
"""

from typing import Any

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text and jsonb cannot hold U+0000
# The characters Python's str.strip() removes (str.isspace), spelled out: JSON Schema's `\s`
# (ECMA-262) differs from Python's (it lacks \x1c-\x1f and \x85, and has \ufeff).
SPACE = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Not blank once stripped, no NUL: what a trimmed, required text field accepts.
NOT_BLANK = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"
# The page/API cursor: an opaque token from `next`/`previous`. Its own format (not a pattern)
# because what decodes is not a regular language; the test suite teaches schemathesis it.
CURSOR_FORMAT = "cursor"
# A keyset page link (mleval_site.pagination.encode_cursor: the last row's sort values, as
# base64 JSON), e.g. the failing verdicts' (score, id); the test suite teaches it too.
KEYSET_CURSOR_FORMAT = "keyset-cursor"

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "One sentence naming the first problem."},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Messages by field; `<index>.<field>` for an object of a list, "
            "`selection.<filter>` for a run's selection, `non_field_errors` for the whole input.",
        },
    },
    "required": ["detail", "errors"],
    "additionalProperties": False,
}
ERROR_CODES = {
    "400": "Invalid input: `errors` names each field (and index, for a list).",
    "401": "No credentials, or an invalid, expired or revoked token.",
    "403": "Your role does not allow this.",
    "404": "No such object (or no such path).",
    "409": "Conflicts with the current state (e.g. a finished run, a known external_id, a "
    "selection that matches no case).",
    "413": "The request body is too large.",
    "414": "The URL is too long (answered by the web server, gunicorn: 4094 bytes per request "
    "line); send long filters in a POST body or split them.",
    "415": "Unsupported Content-Type.",
    "429": "Too many requests for this token: wait (see Retry-After).",
}
READ_CODES = ("400", "401", "403", "404", "414", "429")
WRITE_CODES = (*READ_CODES, "409", "413", "415")


def text(**extra: Any) -> dict:
    """A string PostgreSQL can store (no NUL)."""
    return {"type": "string", "pattern": NO_NUL, **extra}


JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_OBJECT_REF = {"$ref": "#/components/schemas/JsonObject"}
JSON_SCHEMAS = {
    "JsonValue": {
        "description": "Any JSON value jsonb can store: no NUL (U+0000) in a string or key.",
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            text(),
            {"type": "array", "items": JSON_VALUE_REF},
            JSON_OBJECT_REF,
        ],
    },
    "JsonObject": {
        "type": "object",
        "description": "A JSON object jsonb can store: no NUL (U+0000) in a string or key.",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": JSON_VALUE_REF,
    },
}


def json_value(**extra: Any) -> dict:
    return {**JSON_VALUE_REF, **extra} if extra else dict(JSON_VALUE_REF)


def json_object(**extra: Any) -> dict:
    return {**JSON_OBJECT_REF, **extra} if extra else dict(JSON_OBJECT_REF)


def nullable(schema: dict) -> dict:
    """`schema` or null (OpenAPI 3.1 has no `nullable`)."""
    return {"anyOf": [schema, {"type": "null"}]}


def _tighten_query_parameter(parameter: dict) -> None:
    """A free-text query parameter (no enum, format or pattern) refuses NUL like its form field;
    a choice or a date may also be empty (no filter)."""
    schema = parameter.get("schema", {})
    if parameter.get("in") != "query":
        return
    if schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
        schema["pattern"] = NO_NUL
    if schema.get("type") == "string" and "" not in schema.get("enum", [""]):
        schema["enum"] = [*schema["enum"], ""]  # an empty choice is no filter, as on the pages
    if schema.get("type") == "string" and schema.get("format") in ("date", "date-time"):
        parameter["schema"] = {"anyOf": [schema, {"const": ""}]}  # empty: no filter
    items = schema.get("items", {})
    if schema.get("type") == "array" and items.get("type") == "string" and "enum" not in items:
        items.setdefault("pattern", NO_NUL)
    if schema.get("type") == "array" and "" not in items.get("enum", [""]):
        items["enum"] = [*items["enum"], ""]


READ_AS = "x-mleval-read-as"  # a field written in one shape and read in another


def read_as(written: dict, read: dict) -> dict:
    """A field's schema as requests write it, and (`read`) as responses carry it: e.g. a
    version written as its name or id and read as {"id", "name"}. `complete_schema` keeps
    `written` in request components and puts `read` in the others (null kept when allowed)."""
    return {**written, READ_AS: read}


def _split_read_shapes(name: str, schema: dict) -> None:
    for key, prop in list(schema.get("properties", {}).items()):
        if READ_AS not in prop:
            continue
        read = prop.pop(READ_AS)
        if name.endswith("Request"):
            continue
        nullable_ = {"type": "null"} in prop.get("anyOf", []) + prop.get("oneOf", [])
        described = {k: prop[k] for k in ("description", "readOnly") if k in prop}
        schema["properties"][key] = {
            **({"anyOf": [read, {"type": "null"}]} if nullable_ else read),
            **described,
        }


# Set by mleval_site.openapi.AutoSchema on a request CharField that trims and needs a value.
TRIMMED = "x-mleval-trimmed"


def _tighten_string(schema: dict) -> None:
    """A serializer's CharField refuses NUL (DRF's ProhibitNullCharactersValidator), and blank
    once trimmed when it trims and needs a value."""
    trimmed = schema.pop(TRIMMED, False)
    if schema.get("type") != "string" or {"enum", "format"} & set(schema):
        return
    if trimmed and schema.get("pattern", NO_NUL) == NO_NUL:
        schema["pattern"] = NOT_BLANK
    schema.setdefault("pattern", NO_NUL)


def _tighten_request_component(schema: dict) -> None:
    for prop in schema.get("properties", {}).values():
        _tighten_string(prop)
        if prop.get("type") == "array":  # a ListField of CharFields: each item too
            _tighten_string(prop.get("items", {}))


def _drop_markers(node: Any) -> None:
    """TRIMMED where no request component reads it (responses, parameters)."""
    if isinstance(node, dict):
        node.pop(TRIMMED, None)
        for value in node.values():
            _drop_markers(value)
    elif isinstance(node, list):
        for item in node:
            _drop_markers(item)


ANY_OR_NULL = {"oneOf": [{}, {"type": "null"}]}


def _any_value(node: Any) -> Any:
    """drf-spectacular writes a nullable JSONField as oneOf [{}, null], which null matches
    twice (a response carrying null violates it): any JSON value, null included, is {}."""
    if isinstance(node, dict):
        if node.get("oneOf") == ANY_OR_NULL["oneOf"]:
            node = {k: v for k, v in node.items() if k != "oneOf"}
        return {key: _any_value(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_any_value(item) for item in node]
    return node


def complete_schema(result: dict, generator, **kwargs) -> dict:
    """drf-spectacular postprocessing hook: the shared parts above, on every operation."""
    result = _any_value(result)
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name, schema in schemas.items():
        _split_read_shapes(name, schema)
        if name in CLOSED:
            schema["additionalProperties"] = False
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: serializers as read from a body
            _tighten_request_component(schema)
    _drop_markers(result)
    schemas.update(JSON_SCHEMAS)
    schemas.update(COMPONENTS)
    responses = components.setdefault("responses", {})
    for code, description in ERROR_CODES.items():
        responses[f"Error{code}"] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                _tighten_query_parameter(parameter)
            min_items = operation.pop(MIN_ITEMS, None)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                if content.get("schema", {}).pop(BODY_REQUIRED, False):
                    operation["requestBody"]["required"] = True
                if min_items and content.get("schema", {}).get("type") == "array":
                    content["schema"]["minItems"] = min_items
            if method == "delete":
                codes = (*READ_CODES, "409")
            else:
                codes = WRITE_CODES if method in ("post", "put", "patch") else READ_CODES
            for code in codes:
                operation["responses"].setdefault(
                    code, {"$ref": f"#/components/responses/Error{code}"}
                )
    return result


# Schemas an app's api.py contributes as components (`register`), added by `complete_schema`.
COMPONENTS: dict[str, dict] = {}
BODY_REQUIRED = "x-mleval-body-required"  # a raw request schema's marker, removed by the hook
# extend_schema(extensions={MIN_ITEMS: n}): a list body needs n items at least (the hook sets
# minItems on the operation's array bodies and removes the marker).
MIN_ITEMS = "x-mleval-min-items"


# Request components whose objects refuse keys they do not name (a hand-written validator
# answers 400 "unknown field"): `complete_schema` gives them additionalProperties false.
CLOSED: set[str] = set()


def closed(component: str) -> str:
    """Mark a serializer's request component (e.g. "ResponseInRequest") as refusing extra keys."""
    CLOSED.add(component)
    return component


def register(name: str, schema: dict) -> dict:
    """Make `schema` the component `name`; returns a reference to it."""
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def required_body(schema: dict) -> dict:
    """A raw request-body schema the operation cannot do without (drf-spectacular marks raw
    schemas optional; the API answers 400 to a missing body)."""
    return {**schema, BODY_REQUIRED: True}
