"""Where the report's SVG charts put their marks: pure geometry from figures, no HTML.

The template tags in evaluations/templatetags/charts.py write the SVG from these dicts
(escaping every label there); tests and the JSON side can read the geometry directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_LOW = (238, 242, 250)  # the lightest cell of a heat-map
_HIGH = (36, 87, 197)  # the stylesheet's --accent


def shade(fraction: float) -> str:
    fraction = min(1.0, max(0.0, fraction))
    rgb = (round(lo + (hi - lo) * fraction) for lo, hi in zip(_LOW, _HIGH, strict=True))
    return "rgb({},{},{})".format(*rgb)


def short(text: Any, limit: int = 22) -> str:
    text = str(text) if text not in (None, "") else "(none)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def count_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def column_geometry(
    counts: Sequence[int],
    title: str,
    bin_width: float = 0.1,
    unit: str = "",
    width: int = 320,
    height: int = 130,
) -> dict:
    """:func:`column_chart`'s bars and axes."""
    left, right, top, bottom = 40, 6, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(counts, default=0) or 1
    step = plot_w / max(1, len(counts))
    bars = []
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        bars.append(
            {
                "x": round(left + i * step + 1, 1),
                "y": round(top + plot_h - h, 1),
                "w": round(max(1.0, step - 2), 1),
                "h": round(h, 1),
                "title": f"{i * bin_width:g}–{(i + 1) * bin_width:g}{unit}: {count:,}",
            }
        )
    return {
        "title": title,
        "width": width,
        "height": height,
        "bars": bars,
        "left": left,
        "right_edge": width - right,
        "top": top,
        "base": top + plot_h,
        "peak": count_label(max(counts, default=0)),
        "first": "0",
        "last": f"{len(counts) * bin_width:g}{unit}",
        "label_y": height - 5,
    }


def rate_geometry(rows: Sequence[dict], title: str, width: int = 420, limit: int = 25) -> dict:
    """:func:`rate_chart`'s bars."""
    label_w, right, row_h, top = 150, 46, 18, 16
    plot_w = width - label_w - right
    shown = list(rows)[:limit]
    bars = []
    for i, row in enumerate(shown):
        y = top + i * row_h
        rate = float(row.get("rate") or 0.0)
        bar = {
            "label": short(row.get("label")),
            "full": f"{row.get('label') or '(none)'}: {rate:.1%}"
            + (f" of {row['count']:,}" if row.get("count") is not None else ""),
            "y": y,
            "text_y": y + 12,
            "w": round(plot_w * rate, 1),
            "value": f"{rate:.0%}",
            "value_x": label_w + plot_w + 4,
        }
        if row.get("low") is not None and row.get("high") is not None:
            bar["whisker"] = {
                "x1": round(label_w + plot_w * row["low"], 1),
                "x2": round(label_w + plot_w * row["high"], 1),
                "y": y + 7,
            }
        bars.append(bar)
    height = top + row_h * len(shown) + 4
    return {
        "title": title,
        "width": width,
        "height": height,
        "bars": bars,
        "x0": label_w,
        "x_half": label_w + plot_w / 2,
        "x1": label_w + plot_w,
        "plot_w": plot_w,
        "bottom": height - 2,
        "hidden": max(0, len(rows) - len(shown)),
    }


def heatmap_geometry(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], limit: int = 30
) -> dict:
    """:func:`confusion_heatmap`'s cells and labels."""
    order = list(range(len(labels)))
    if len(labels) > limit:
        order = sorted(order, key=lambda i: -sum(matrix[i]))[:limit]
        order.sort()
    n = len(order)
    cell = max(12, min(40, 420 // max(1, n)))
    longest = max((len(short(labels[i], 18)) for i in order), default=4)
    left = 14 + 7 * longest
    top = 14 + 7 * longest
    rows = []
    for r, i in enumerate(order):
        total = sum(matrix[i]) or 1
        cells = []
        for c, j in enumerate(order):
            count = matrix[i][j]
            share = count / total
            cells.append(
                {
                    "x": left + c * cell,
                    "y": top + r * cell,
                    "fill": shade(share),
                    "text": count if cell >= 22 and count else "",
                    "dark": share > 0.55,
                    "title": f"actual {labels[i]}, predicted {labels[j]}: {count:,} "
                    f"({share:.0%} of {labels[i]})",
                    "diagonal": i == j,
                }
            )
        rows.append(
            {"label": short(labels[i], 18), "y": top + r * cell + cell / 2 + 4, "cells": cells}
        )
    columns = [
        {"label": short(labels[j], 18), "x": left + c * cell + cell / 2 + 4, "y": top - 6}
        for c, j in enumerate(order)
    ]
    return {
        "width": left + n * cell + 8,
        "height": top + n * cell + 8,
        "cell": cell,
        "half": cell / 2,
        "left": left,
        "top": top,
        "rows": rows,
        "columns": columns,
        "hidden": len(labels) - n,
    }
