"""What PostgreSQL's `jsonb` (and `text`) refuse, checked or cleaned in one place for every app.

PostgreSQL stores JSON numbers and text, but not three things Python's json module accepts:

- NaN and ±Infinity (`json` reads and writes them by default);
- the character U+0000 (a NUL), in jsonb strings and in text columns;
- lone UTF-16 surrogates (`"\\ud800"` decodes to a Python str that is not valid Unicode).

Paths that take input from a person or a file *reject* such a value and say where it is (the
case importer, response ingestion, a model's reply in the executor): `loads` refuses NaN and
Infinity while parsing, `unstorable` names the character. Paths that store what mleval itself
computed *sanitize* instead (the scoring pipeline's metrics and feedback): `sanitize` returns a
copy without them. Either way the Python value is checked before it is encoded, never the
encoded text: replacing `\\u0000` in encoded JSON also corrupts an answer that holds the six
characters backslash-u-0-0-0-0.

Two limits of mleval's own, refused the same way on every path:

- nesting deeper than MAX_DEPTH (100) arrays/objects: Python's parser and the code that walks a
  value recurse, so 3,000 levels were a RecursionError (a 500) before; `decode`/`loads` say the
  limit instead, and `unstorable` reports a parsed value deeper than it;
- numbers beyond a 64-bit float (`1e400`): Python reads them as infinity, which jsonb refuses,
  while PostgreSQL would store the raw text as a 401-digit number: refused everywhere.

Duplicate keys in an object: the last one wins, on every path (Python's json and PostgreSQL's
jsonb both keep the last); refusing them would cost every parse an object_pairs_hook (1.5-2.5x
the decoding time, measured).

Speed: checking every string of every record costs more than parsing it, so the readers first
ask `suspect(text)` of the raw JSON text, which is false for nearly every line, and walk the
value only when it is true.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

NUL_MESSAGE = "contains the character \\u0000, which PostgreSQL cannot store"
SURROGATE_MESSAGE = "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid text"
MAX_DEPTH = 100  # arrays/objects inside each other; README "Limits"
DEPTH_MESSAGE = f"is nested more than {MAX_DEPTH} levels deep (the limit is {MAX_DEPTH})"
NUMBER_MESSAGE = "holds a number too large for a 64-bit float (such as 1e400)"


def reject_constant(name: str) -> None:
    """`parse_constant` for json: NaN, Infinity and -Infinity are errors, not floats."""
    raise ValueError(f"{name} is not valid JSON (PostgreSQL cannot store it)")


class TooDeep(ValueError):
    """JSON nested beyond what Python's parser can follow (far past MAX_DEPTH)."""

    def __init__(self) -> None:
        super().__init__(f"the JSON {DEPTH_MESSAGE}")


_DECODER = json.JSONDecoder(parse_constant=reject_constant)
_decode, _raw_decode = _DECODER.decode, _DECODER.raw_decode


def decode(text: str) -> Any:
    """str → value; ValueError (JSONDecodeError, a constant, TooDeep) when invalid."""
    try:
        return _decode(text)
    except RecursionError:
        raise TooDeep() from None


def raw_decode(text: str, index: int = 0) -> tuple[Any, int]:
    """(value, end) of the JSON value at an index of a str; ValueError as `decode`."""
    try:
        return _raw_decode(text, index)
    except RecursionError:
        raise TooDeep() from None


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode = _ENCODER.encode


class FormDecoder(json.JSONDecoder):
    """`decoder=` for Django's forms.JSONField: what `checked_loads` refuses becomes the
    JSONDecodeError the field turns into a form error (deep nesting was a 500)."""

    def decode(self, text: str, *args) -> Any:
        try:
            return checked_loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError as error:
            raise json.JSONDecodeError(str(error), text, 0) from None


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads` (text or UTF-8/16/32 bytes) that refuses NaN and Infinity."""
    try:
        return json.loads(data, parse_constant=reject_constant)
    except RecursionError:
        raise TooDeep() from None


def checked_loads(text: str) -> Any:
    """`decode`, then `unstorable` when `suspect`: ValueError naming what jsonb or mleval's
    limits refuse (for readers that take a whole JSON document: API bodies, forms, specs)."""
    value = decode(text)
    if suspect(text) and (reason := unstorable(value)):
        raise ValueError(f"the JSON {reason}")
    return value


_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# An exponent of three digits or more (1e400). A literal of 309+ digits before its point with no
# exponent also overflows, but looking for one costs every line more than its parse: such a value
# is refused where it is parsed (a JSON list, the API, a form), and stored as PostgreSQL
# reads it where raw NDJSON text goes straight to jsonb.
_SUSPECT_NUMBER = re.compile(r"[eE][+]?\d\d\d")
_SURROGATE = re.compile("[\ud800-\udfff]")


def suspect(text: str) -> bool:
    """Whether JSON text may decode to something `unstorable` names (rare: then walk the value).

    False guarantees the decoded value holds no NUL, no lone surrogate, no number past a
    float, and no nesting past MAX_DEPTH; true only means "look": `\\u0000` may be the escaped
    six characters of a literal backslash-u0000, a surrogate escape may be one half of a valid
    pair, `e400` may be inside a string, and brackets may be side by side rather than nested.
    """
    return (
        "\x00" in text
        or ("\\u" in text and _SUSPECT_ESCAPE.search(text) is not None)
        or text.count("[") + text.count("{") > MAX_DEPTH
        or _SUSPECT_NUMBER.search(text) is not None
    )


def text_problem(text: str) -> str:
    """Why PostgreSQL cannot store this string (a NUL, a lone surrogate), or ""."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return ""


def unstorable(value: Any) -> str:
    """Why a parsed JSON value cannot be stored, or "": a NUL or a lone surrogate in any string
    (keys included), a number past a 64-bit float, nesting deeper than MAX_DEPTH. (NaN and
    Infinity written as such never parse: see `loads`.)"""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if reason := text_problem(item):
                return reason
        elif isinstance(item, float):
            if not math.isfinite(item):
                return NUMBER_MESSAGE
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                return DEPTH_MESSAGE
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                item = item.values()
            stack.extend((child, depth + 1) for child in item)
    return ""


def problem_at(value: Any) -> tuple[str, str]:
    """(where, why) for the first thing `unstorable` finds: `where` is the path of keys and
    indexes (`selection.category`, `0.output_data`), "" for the value itself; ("", "") when
    there is nothing. Slower than `unstorable`: for error messages."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if reason := text_problem(item):
                return path, reason
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, NUMBER_MESSAGE
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                return path, DEPTH_MESSAGE
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (reason := text_problem(key)):
                    return where, f"has a key that {reason}"
                stack.append((child, depth + 1, where))
    return "", ""


def clean_text(text: str) -> str:
    """The string without NULs, lone surrogates as U+FFFD: what a text column can hold."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub("\ufffd", text)
    return text


def sanitize(value: Any) -> Any:
    """A copy of a JSON-like value that jsonb accepts: strings (keys too) through `clean_text`,
    NaN and infinities as null, tuples as lists."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {
            clean_text(key) if isinstance(key, str) else key: sanitize(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [sanitize(item) for item in value]
    return value


# orjson reads an integer beyond 64 bits as a float, where json keeps it exact: such text
# (a run of 19 digits or more), like anything orjson refuses, is json's to read.
_LONG_NUMBER = re.compile(r"\d{19}")


def loads_fast(text: str) -> Any:
    """``json.loads(text)``: the same value, or the same error, read by orjson when it can
    (5-6x faster on the short documents the scoring pipeline decodes by the thousand: each
    response's output, its case's ground truth and input, each judge reply). Only for text
    PostgreSQL or mleval wrote; input from a person or a file goes through `loads`."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


# orjson encodes the common value about 10x faster than json (the scoring pipeline encodes
# every verdict's metrics); whatever it refuses (a lone surrogate, an integer beyond 64 bits,
# a non-str key) and what json refuses but orjson would take (a dataclass, a datetime) go the
# json way below, so the result is json's (orjson also writes UUIDs and enums, which json
# refuses). It writes NaN and infinities as null, as `sanitize` does.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps_sanitized(value: Any) -> str:
    """Compact JSON text of `value` that jsonb accepts, sanitizing only when it must.

    The common value encodes as is; a value whose encoding fails (NaN) or may carry a NUL
    (the text holds `\\u0000`) or a lone surrogate is sanitized first, as a Python value.
    """
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        pass
    else:
        return _encode(sanitize(value)) if "\\u0000" in text else text
    try:
        text = _encode(value)
    except ValueError:
        return _encode(sanitize(value))
    if "\\u0000" in text or (not text.isascii() and text_problem(text)):
        return _encode(sanitize(value))
    return text
