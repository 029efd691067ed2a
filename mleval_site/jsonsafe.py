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

Speed: checking every string of every record costs more than parsing it, so the readers first
ask `suspect(text)` of the raw JSON text, which is false for nearly every line, and walk the
value only when it is true.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

NUL_MESSAGE = "contains the character \\u0000, which PostgreSQL cannot store"
SURROGATE_MESSAGE = "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid text"


def reject_constant(name: str) -> None:
    """`parse_constant` for json: NaN, Infinity and -Infinity are errors, not floats."""
    raise ValueError(f"{name} is not valid JSON (PostgreSQL cannot store it)")


_DECODER = json.JSONDecoder(parse_constant=reject_constant)
decode = _DECODER.decode  # str → value; ValueError (JSONDecodeError or a constant) when invalid
raw_decode = _DECODER.raw_decode  # (value, end) of the JSON value at an index of a str

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode = _ENCODER.encode


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads` (text or UTF-8/16/32 bytes) that refuses NaN and Infinity."""
    return json.loads(data, parse_constant=reject_constant)


_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def suspect(text: str) -> bool:
    """Whether JSON text may decode to a NUL or a lone surrogate (rare: then walk the value).

    False guarantees the decoded value holds neither; true only means "look": `\\u0000` may be
    the escaped six characters of a literal backslash-u0000, and a surrogate escape may be one
    half of a valid pair.
    """
    return "\x00" in text or ("\\u" in text and _SUSPECT_ESCAPE.search(text) is not None)


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
    """Why PostgreSQL's jsonb would refuse a parsed JSON value (a NUL or a lone surrogate in
    any string, keys included), or "". Numbers are not looked at: see `loads`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if reason := text_problem(item):
                return reason
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return ""


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


def dumps_sanitized(value: Any) -> str:
    """Compact JSON text of `value` that jsonb accepts, sanitizing only when it must.

    The common value encodes as is; a value whose encoding fails (NaN) or may carry a NUL
    (the text holds `\\u0000`) or a lone surrogate is sanitized first, as a Python value.
    """
    try:
        text = _encode(value)
    except ValueError:
        return _encode(sanitize(value))
    if "\\u0000" in text or (not text.isascii() and text_problem(text)):
        return _encode(sanitize(value))
    return text
