"""What a case's input looks like to a person, by input_type: text as text, an image as an image
(with its ground-truth boxes drawn over it, or on a blank canvas of its size when the browser
cannot reach it), a series as a small line chart with axes, tabular data as a table. Pure
functions of the case; the detail template draws the result (geometry in cases/charts.py)."""

import json
import math
from typing import Any

from cases.charts import boxes_drawing, image_size, line_chart
from cases.models import TestCase
from cases.shapes import ShapeError, coerce_boxes

IMAGE_KEYS = ("image_url", "url", "image_path", "path", "image", "src", "file")
BASE64_KEYS = ("image_base64", "base64", "data", "image")
SERIES_KEYS = ("series", "values", "history", "y")
MAX_TABLE_ROWS = 50


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _browser_src(value: str) -> bool:
    """Whether a browser can load this location itself (a web URL or a path on this site)."""
    return value.startswith(("http://", "https://", "/")) and not value.startswith("//")


def _image(case: TestCase) -> dict | None:
    data = case.input_data
    if case.input_type == "image_base64" or case.input_format == "base64":
        for key in BASE64_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value:
                if value.startswith("data:image/"):
                    return {"kind": "image", "src": value, "location": key}
                mime = "image/jpeg" if value.startswith("/9j/") else "image/png"
                return {"kind": "image", "src": f"data:{mime};base64,{value}", "location": key}
    for key in IMAGE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            src = value if _browser_src(value) else None
            return {"kind": "image", "src": src, "location": value}
    return None


def _series(case: TestCase) -> dict | None:
    data = case.input_data
    series = next(
        (data[key] for key in SERIES_KEYS if isinstance(data.get(key), list) and data[key]), None
    )
    if not series or not all(_is_number(v) for v in series):
        return None
    future: list = []
    truth = case.ground_truth
    if isinstance(truth, dict) and isinstance(truth.get("values"), list):
        future = [v for v in truth["values"] if _is_number(v)]
    return {"kind": "series", **line_chart(series, future)}


def _table(case: TestCase) -> dict | None:
    data = case.input_data
    rows = data.get("rows")
    columns = data.get("columns")
    if isinstance(rows, list) and rows:
        if isinstance(columns, list) and all(isinstance(r, list) for r in rows):
            body = [list(r) for r in rows[:MAX_TABLE_ROWS]]
            return {"kind": "table", "columns": columns, "rows": body, "more": len(rows) > 50}
        if all(isinstance(r, dict) for r in rows):
            names = list(dict.fromkeys(k for r in rows[:MAX_TABLE_ROWS] for k in r))
            body = [[r.get(k, "") for k in names] for r in rows[:MAX_TABLE_ROWS]]
            return {"kind": "table", "columns": names, "rows": body, "more": len(rows) > 50}
    features = data.get("features") if isinstance(data.get("features"), dict) else data
    scalars = {k: v for k, v in features.items() if not isinstance(v, dict | list)}
    if not scalars:
        return None
    return {"kind": "table", "columns": list(scalars), "rows": [list(scalars.values())]}


def _text(case: TestCase) -> dict | None:
    texts = [(k, v) for k, v in case.input_data.items() if isinstance(v, str) and v.strip()]
    return {"kind": "text", "texts": texts} if texts else None


def _audio(case: TestCase) -> dict | None:
    for key in ("audio_url", "url", "audio_path", "path"):
        value = case.input_data.get(key)
        if isinstance(value, str) and value:
            src = value if _browser_src(value) else None
            return {"kind": "audio", "src": src, "location": value}
    return None


def truth_boxes(case: TestCase) -> list | None:
    """The ground truth's boxes when the case is a detection case, else None."""
    if case.output_type != "bounding_boxes":
        return None
    try:
        return coerce_boxes(case.ground_truth)
    except ShapeError:
        return None  # the page lists the shape errors instead


def _boxes(case: TestCase) -> dict | None:
    boxes = truth_boxes(case)
    if boxes is None:
        return None
    image = _image(case) if isinstance(case.input_data, dict) else None
    src = image["src"] if image else None
    size = image_size(case.input_data) if isinstance(case.input_data, dict) else None
    location = image["location"] if image else None
    return {"kind": "boxes", "location": location, **boxes_drawing(boxes, size, src)}


def input_preview(case: TestCase) -> dict | None:
    """A preview of the case's input for its input_type, or None (the JSON speaks for itself)."""
    if boxes := _boxes(case):
        return boxes
    if not isinstance(case.input_data, dict):
        return None
    input_type = case.input_type
    if input_type.startswith("image"):
        builders = (_image,)
    elif input_type in ("time_series", "series", "timeseries"):
        builders = (_series,)
    elif input_type in ("tabular", "table", "csv_row"):
        builders = (_table,)
    elif input_type.startswith("audio"):
        builders = (_audio,)
    elif input_type in ("text", "prompt", "document"):
        builders = (_text,)
    else:
        builders = (_series, _image, _text)
    for build in builders:
        if preview := build(case):
            return preview
    return None


SUMMARY_CHARS = 100


def summary(value: Any, limit: int = SUMMARY_CHARS) -> str:
    """One short readable line for a JSON value (the admin's case list): an object's keys with
    their values, strings as text, arrays and objects as counts or short lists."""
    if isinstance(value, dict):
        # Text first (a prompt, an image's path), then numbers, then arrays and objects: jsonb
        # stores keys shortest first, which would put `width` before the image it describes.
        items = sorted(value.items(), key=lambda item: _rank(item[1]))
        text = " · ".join(f"{key}: {_part(item)}" for key, item in items) or "{}"
    else:
        text = _part(value)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut) + "…"


def _rank(value: Any) -> int:
    return 0 if isinstance(value, str) else 2 if isinstance(value, list | dict) else 1


def _part(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        inline = json.dumps(value, ensure_ascii=False)
        if len(inline) <= 30:
            return inline
        noun = "number" if all(_is_number(v) for v in value) else "item"
        return f"[{len(value)} {noun}{'s' if len(value) != 1 else ''}]"
    if isinstance(value, dict):
        inline = json.dumps(value, ensure_ascii=False)
        return inline if len(inline) <= 30 else f"{{{len(value)} keys}}"
    return json.dumps(value)
