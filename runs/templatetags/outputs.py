"""What the model said next to what was expected: one partial for the run page, the report's
failing cases, the comparison's per-case rows and the case history.

JSON is pretty-printed, long values are folded in <details>, and two texts get a word diff
computed here (difflib), rendered by the template as <del>/<ins>: no JS, no mark_safe.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from django import template

from cases.charts import boxes_drawing
from cases.shapes import ShapeError, coerce_boxes
from mleval_site.jsontext import pretty_json

register = template.Library()

FOLD_CHARS = 300  # longer than this (or more than FOLD_LINES lines): folded, a preview shown
FOLD_LINES = 8
DIFF_TOKENS = 4000  # past this many words a side, no diff (SequenceMatcher is quadratic)
PREVIEW_CHARS = 120
COMPACT_CHARS = 60
_TOKEN = re.compile(r"\s+|[^\s]+")


def as_text(value: Any) -> str | None:
    """The text a value stands for: a string, or the one scalar of a one-key object
    (`{"text": ...}`, `{"label": 3}`); None for anything richer (shown as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        if isinstance(inner, (str, int, float, bool)) and inner is not None:
            return inner if isinstance(inner, str) else json.dumps(inner)
    return None


def shown(value: Any) -> dict:
    """How one value is shown: its text (pretty JSON unless plain text), whether it is folded,
    and the preview line a folded value shows."""
    if value is None:
        return {"missing": True}
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > COMPACT_CHARS and not isinstance(value, str):  # short JSON stays on a line
        text = pretty_json(value)
    folded = len(text) > FOLD_CHARS or text.count("\n") >= FOLD_LINES
    preview = " ".join(text.split())
    if len(preview) > PREVIEW_CHARS:
        preview = preview[: PREVIEW_CHARS - 1] + "…"
    return {"text": text, "folded": folded, "preview": preview}


def word_diff(expected: str, output: str) -> list[tuple[str, str]] | None:
    """(kind, text) segments turning `expected` into `output`, kind one of equal, delete,
    insert; None when either side is too long to diff."""
    a, b = _TOKEN.findall(expected), _TOKEN.findall(output)
    if len(a) > DIFF_TOKENS or len(b) > DIFF_TOKENS:
        return None
    segments: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            segments.append(("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            segments.append(("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            segments.append(("insert", "".join(b[j1:j2])))
    return segments


def boxes_compared(output: Any, expected: Any) -> dict | None:
    """Expected boxes (dashed) and the output's (solid) drawn together, when both are boxes;
    on a canvas spanning them (the image's size is on the case, not here)."""
    if output is None or expected is None:
        return None
    try:
        truth, predicted = coerce_boxes(expected), coerce_boxes(output)
    except ShapeError:
        return None
    if not truth and not predicted:
        return None
    return boxes_drawing(truth, None, None, predicted=predicted)


@register.inclusion_tag("runs/_output.html")
def model_output(
    output: Any,
    expected: Any = None,
    error: str = "",
    *,
    label: str = "Output",
    show_expected: bool = True,
) -> dict:
    """`{% model_output response.output_data case.ground_truth response.error_message %}`.

    A failed call shows its error instead of an output. Two texts that differ get a diff.
    """
    out_text, exp_text = as_text(output), as_text(expected)
    diff = None
    if not error and out_text is not None and exp_text is not None and out_text != exp_text:
        diff = word_diff(exp_text, out_text)
    return {
        "label": label,
        "error": error,
        "output": shown(output),
        "expected": shown(expected) if show_expected else None,
        "diff": diff,
        "matches": not error and out_text is not None and out_text == exp_text,
        "drawing": None if error else boxes_compared(output, expected),
    }
