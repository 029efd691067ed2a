"""What a case's input looks like to a person, by input_type: text as text, an image as an image,
a series as a small line chart, tabular data as a table. Pure functions of the case; the detail
template draws the result."""

import math
from typing import Any

from cases.models import TestCase

IMAGE_KEYS = ("image_url", "url", "image_path", "path", "image", "src", "file")
BASE64_KEYS = ("image_base64", "base64", "data", "image")
SERIES_KEYS = ("series", "values", "history", "y")
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 520, 140, 6
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


def line_chart(series: list[float], future: list[float]) -> dict:
    """SVG polyline points for a series and (dashed, after it) its expected continuation."""
    values = [float(v) for v in (*series, *future)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    steps = max(len(values) - 1, 1)

    def point(i: int, v: float) -> str:
        x = CHART_PAD + i * (CHART_WIDTH - 2 * CHART_PAD) / steps
        y = CHART_PAD + (high - v) * (CHART_HEIGHT - 2 * CHART_PAD) / span
        return f"{x:.1f},{y:.1f}"

    known = " ".join(point(i, float(v)) for i, v in enumerate(series))
    start = len(series) - 1
    expected = " ".join(
        point(start + i, float(v)) for i, v in enumerate([series[-1], *future]) if future
    )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": known,
        "future_points": expected,
        "low": low,
        "high": high,
        "count": len(series),
        "future_count": len(future),
    }


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


def input_preview(case: TestCase) -> dict | None:
    """A preview of the case's input for its input_type, or None (the JSON speaks for itself)."""
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
