"""The geometry of the small SVG drawings of case previews, computed here so templates only place
what they are given: a line chart with its axes (ticks at round numbers, labelled), and
bounding boxes drawn in the image's own pixel coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cases.shapes import Box

CHART_WIDTH, CHART_HEIGHT = 560, 200
# Room around the plot for the axes: tick labels at the left, step numbers below.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 56, 12, 10, 30
TICK_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
BOX_COLOURS = ("#d1242f", "#2457c5", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7c86")
EXPECTED_COLOUR, OUTPUT_COLOUR = "#1a7f37", "#2457c5"


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in TICK_STEPS if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [_clean(i * step) for i in range(first, last + 1)]


def _clean(value: float) -> float:
    """Drop float noise (0.30000000000000004 → 0.3) and negative zero."""
    return round(value, 12) + 0.0


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's label with as many decimals as the tick spacing needs, and no more."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    if max(abs(ticks[0]), abs(ticks[-1])) >= 1e6 or step < 1e-4:
        return f"{value:.3g}"
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}"


def line_chart(series: Sequence[float], future: Sequence[float] = ()) -> dict[str, Any]:
    """A series and (dashed, after it) its expected continuation as SVG polylines, with a y axis
    of round values and an x axis of time steps (0 is the first point of the series)."""
    values = [float(v) for v in (*series, *future)]
    y_ticks = nice_ticks(min(values), max(values))
    low, high = y_ticks[0], y_ticks[-1]
    last_step = max(len(values) - 1, 1)
    x_ticks = [t for t in nice_ticks(0, last_step, 8) if t == int(t) and 0 <= t <= last_step]
    if len(x_ticks) < 2:
        x_ticks = [0.0, float(last_step)]
    plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_bottom = CHART_HEIGHT - PLOT_BOTTOM

    def x_of(step: float) -> float:
        return PLOT_LEFT + step * plot_width / last_step

    def y_of(value: float) -> float:
        return PLOT_TOP + (high - value) * (plot_bottom - PLOT_TOP) / (high - low)

    def points(start: int, part: Sequence[float]) -> str:
        return " ".join(f"{x_of(start + i):.1f},{y_of(float(v)):.1f}" for i, v in enumerate(part))

    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {
            "left": PLOT_LEFT,
            "right": CHART_WIDTH - PLOT_RIGHT,
            "top": PLOT_TOP,
            "bottom": plot_bottom,
        },
        "y_ticks": [{"y": round(y_of(v), 1), "label": tick_label(v, y_ticks)} for v in y_ticks],
        "x_ticks": [{"x": round(x_of(t), 1), "label": f"{int(t)}"} for t in x_ticks],
        "points": points(0, series),
        "future_points": points(len(series) - 1, [series[-1], *future]) if future else "",
        "future_x": round(x_of(len(series) - 1), 1) if future else None,
        "low": min(values),
        "high": max(values),
        "count": len(series),
        "future_count": len(future),
    }


def _positive_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number > 0:
            return number
    return None


def image_size(data: dict) -> tuple[float, float] | None:
    """The image's pixel size as the input states it (`width`/`height`, `image_width`/
    `image_height` or `size: [w, h]`), or None."""
    pairs = [
        (data.get("width"), data.get("height")),
        (data.get("image_width"), data.get("image_height")),
    ]
    size = data.get("size") or data.get("image_size")
    if isinstance(size, list) and len(size) == 2:
        pairs.append((size[0], size[1]))
    for width, height in pairs:
        w, h = _positive_number(width), _positive_number(height)
        if w and h:
            return w, h
    return None


def _rects(
    boxes: Sequence[Box], colour_of: dict[str | None, str], fixed: str | None, font: float
) -> list[dict[str, Any]]:
    rects = []
    for box in boxes:
        if fixed is None and box.label not in colour_of:
            colour_of[box.label] = BOX_COLOURS[len(colour_of) % len(BOX_COLOURS)]
        rects.append(
            {
                "x": box.x1,
                "y": box.y1,
                "width": box.x2 - box.x1,
                "height": box.y2 - box.y1,
                "label": box.label or "",
                # Above the box, or just inside it when the box touches the top edge.
                "label_y": box.y1 - font / 3 if box.y1 >= font else box.y1 + font,
                "colour": fixed or colour_of[box.label],
            }
        )
    return rects


def boxes_drawing(
    boxes: Sequence[Box],
    size: tuple[float, float] | None,
    src: str | None = None,
    predicted: Sequence[Box] | None = None,
) -> dict[str, Any]:
    """Boxes on their image (`src`) or on a blank canvas of the image's size. With no known size
    the canvas spans the boxes, and `fit` asks the page to resize it to the image once loaded.
    With `predicted` boxes too, the expected ones are drawn dashed in one colour, the predicted
    ones solid in another; otherwise each label has its colour."""
    every = [*boxes, *(predicted or ())]
    if size is None:
        width = max([1.0, *(b.x2 for b in every)])
        height = max([1.0, *(b.y2 for b in every)])
    else:
        width, height = size
    colours: dict[str | None, str] = {}
    compare = predicted is not None
    stroke = round(max(width, height) / 250, 2)  # about 2 px however large the image is drawn
    font = round(stroke * 6, 1)
    expected = _rects(boxes, colours, EXPECTED_COLOUR if compare else None, font)
    return {
        "width": width,
        "height": height,
        "src": src,
        "fit": size is None and src is not None,
        "sized": size is not None,
        "boxes": expected,
        "predicted": _rects(predicted or (), colours, OUTPUT_COLOUR, font) if compare else [],
        "stroke": stroke,
        "font": font,
        "count": len(boxes),
    }
