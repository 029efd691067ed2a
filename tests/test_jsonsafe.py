"""mleval_site.jsonsafe: the one home of what PostgreSQL's jsonb refuses (NUL, lone surrogates,
NaN/Infinity); each is checked against PostgreSQL itself, not against the module's own idea."""

import json

import pytest
from django.db import DataError, connection, transaction

from mleval_site import jsonsafe

pytestmark = pytest.mark.django_db

LITERAL = "C:\\u0000"  # eight characters: a backslash, u and four zeros, no NUL


def stored(text: str):
    """What PostgreSQL makes of JSON text: the value read back, or DataError."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [text])
        return json.loads(cursor.fetchone()[0])


@pytest.mark.parametrize(
    "value, reason",
    [
        ({"a": "x\x00y"}, jsonsafe.NUL_MESSAGE),
        ({"x\x00": 1}, jsonsafe.NUL_MESSAGE),  # keys too
        ([1, ["deep", {"k": "\ud800"}]], jsonsafe.SURROGATE_MESSAGE),
        ({"ok": [LITERAL, "é", "\U0001f600", 1.5, None, True]}, ""),
    ],
)
def test_unstorable_agrees_with_postgresql(value, reason):
    assert jsonsafe.unstorable(value) == reason
    text = json.dumps(value, ensure_ascii=False)
    if reason:
        with pytest.raises((DataError, UnicodeEncodeError)):
            stored(text)
    else:
        assert stored(text) == value


@pytest.mark.parametrize(
    "text, suspect",
    [
        ('{"a": "plain", "b": "caf\\u00e9"}', False),
        ('{"a": "\\u0000"}', True),
        ('{"a": "\\ud83d\\ude00"}', True),  # a valid pair: only "look", the walk says fine
        ('{"a": "C:\\\\u0000"}', True),  # a literal backslash-u0000: also only "look"
    ],
)
def test_suspect_is_false_only_when_the_value_cannot_hold_a_bad_character(text, suspect):
    assert jsonsafe.suspect(text) is suspect
    if not suspect:
        assert jsonsafe.unstorable(jsonsafe.decode(text)) == ""


@pytest.mark.parametrize("text", ["NaN", '{"x": Infinity}', "[-Infinity]"])
def test_decoding_refuses_the_constants_postgresql_cannot_store(text):
    with pytest.raises(ValueError, match="is not valid JSON"):
        jsonsafe.decode(text)
    with pytest.raises(ValueError, match="is not valid JSON"):
        jsonsafe.loads(text.encode())


def test_dumps_sanitized_keeps_literal_backslashes_and_drops_only_what_jsonb_refuses():
    value = {
        "predicted": LITERAL,
        "nul": "a\x00b",
        "lone": "x\udc00",
        "nan": float("nan"),
        "inf": [float("inf"), 2.5],
        "pair": ("t", 1),
    }
    back = stored(jsonsafe.dumps_sanitized(value))
    assert back == {
        "predicted": LITERAL,
        "nul": "ab",
        "lone": "x\ufffd",
        "nan": None,
        "inf": [None, 2.5],
        "pair": ["t", 1],
    }
    plain = {"label": "cat", "score": 0.5, "text": "café \\u0000"}
    assert json.loads(jsonsafe.dumps_sanitized(plain)) == plain


@pytest.mark.parametrize(
    "text",
    [
        '{"text": "8 legs", "score": 0.1, "n": -0}',
        '{"a": 1, "a": 2}',  # the last key wins, as json and jsonb keep it
        "123456789012345678901234567890",  # beyond 64 bits: exact, not a float
        "-9223372036854775809",
        "[1e-7, 1.7976931348623157e308, 18446744073709551615]",
        '"\\ud800"',  # a lone surrogate, as json reads it
        "NaN",
        '"\\u0000 and é 漢字"',
    ],
)
def test_loads_fast_reads_what_json_reads(text):
    fast, slow = jsonsafe.loads_fast(text), json.loads(text)
    assert repr(fast) == repr(slow) and type(fast) is type(slow)


@pytest.mark.parametrize("text", ["", "{", "I think it is fine!", "[1,]"])
def test_loads_fast_refuses_what_json_refuses(text):
    with pytest.raises(ValueError):
        jsonsafe.loads_fast(text)
