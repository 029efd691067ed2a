"""Inline SVG charts drawn from numbers the server computed: no JavaScript, no CDN.

Each tag turns report figures into plain geometry (rectangles, points, labels). The run
report's charts (columns, rates, heat-map) write their SVG here in Python, every label escaped:
a report page draws hundreds of bars, and the template engine's per-variable resolving and
number localizing cost tens of milliseconds of a page meant to take a few; the others render
a small template under ``evaluations/charts/``. The same numbers are always in a table next to
the chart, so the chart is a reading aid only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment) -> str:
    """ "just now" under a minute, else Django's "3 minutes ago" (never "0 minutes ago")."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


_LOW = (238, 242, 250)  # the lightest cell of a heat-map
_HIGH = (36, 87, 197)  # the stylesheet's --accent


def _shade(fraction: float) -> str:
    fraction = min(1.0, max(0.0, fraction))
    rgb = (round(lo + (hi - lo) * fraction) for lo, hi in zip(_LOW, _HIGH, strict=True))
    return "rgb({},{},{})".format(*rgb)


def _short(text: Any, limit: int = 22) -> str:
    text = str(text) if text not in (None, "") else "(none)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _open_svg(width: Any, height: Any, label: str, css: str = "chart") -> str:
    title = escape(label)
    return (
        f'<svg class="{css}" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{title}"><title>{title}</title>\n'
    )


@register.simple_tag
def column_chart(
    counts: Sequence[int],
    title: str,
    bin_width: float = 0.1,
    unit: str = "",
    width: int = 320,
    height: int = 130,
) -> SafeString:
    """Vertical bars of counts in equal bins from 0 (score histogram, latency distribution)."""
    g = column_geometry(counts, title, bin_width, unit, width, height)
    left, top, base, right = g["left"], g["top"], g["base"], g["right_edge"]
    bars = "".join(
        f'<rect class="bar" x="{b["x"]}" y="{b["y"]}" width="{b["w"]}" height="{b["h"]}">'
        f"<title>{escape(b['title'])}</title></rect>"
        for b in g["bars"]
    )
    return mark_safe(
        _open_svg(g["width"], g["height"], title)
        + f'  <line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>\n'
        f'  <line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>\n'
        f'  <text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">{g["peak"]}</text>\n'
        f'  <text class="tick" x="{left - 4}" y="{base}" text-anchor="end">0</text>\n'
        f"  {bars}\n"
        f'  <text class="tick" x="{left}" y="{g["label_y"]}">{g["first"]}</text>\n'
        f'  <text class="tick" x="{right}" y="{g["label_y"]}" text-anchor="end">'
        f"{escape(g['last'])}</text>\n</svg>"
    )


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
        "peak": _count_label(max(counts, default=0)),
        "first": "0",
        "last": f"{len(counts) * bin_width:g}{unit}",
        "label_y": height - 5,
    }


@register.simple_tag
def rate_chart(rows: Sequence[dict], title: str, width: int = 420, limit: int = 25) -> SafeString:
    """Horizontal bars of rates in [0, 1] with their labels: pass rate by slice.

    Each row: ``label``, ``rate`` and optionally ``low``/``high`` (an interval whisker) and
    ``count``; at most ``limit`` rows (the table lists them all).
    """
    g = rate_geometry(rows, title, width, limit)
    x0, half, x1, plot_w = g["x0"], g["x_half"], g["x1"], g["plot_w"]
    bars = []
    for b in g["bars"]:
        whisker = b.get("whisker")
        bars.append(
            f"<g><title>{escape(b['full'])}</title>\n"
            f'    <text class="label" x="{x0 - 6}" y="{b["text_y"]}" text-anchor="end">'
            f"{escape(b['label'])}</text>\n"
            f'    <rect class="track" x="{x0}" y="{b["y"]}" width="{plot_w}" height="14"/>\n'
            f'    <rect class="bar" x="{x0}" y="{b["y"]}" width="{b["w"]}" height="14"/>\n'
            + (
                f'    <line class="whisker" x1="{whisker["x1"]}" y1="{whisker["y"]}"'
                f' x2="{whisker["x2"]}" y2="{whisker["y"]}"/>\n'
                if whisker
                else ""
            )
            + f'    <text class="value" x="{b["value_x"]}" y="{b["text_y"]}">'
            f"{b['value']}</text></g>"
        )
    hidden = g["hidden"]
    return mark_safe(
        _open_svg(g["width"], g["height"], title)
        + f'  <text class="tick" x="{x0}" y="10" text-anchor="middle">0%</text>\n'
        f'  <text class="tick" x="{half}" y="10" text-anchor="middle">50%</text>\n'
        f'  <text class="tick" x="{x1}" y="10" text-anchor="middle">100%</text>\n'
        f'  <line class="grid" x1="{half}" y1="14" x2="{half}" y2="{g["bottom"]}"/>\n'
        + "".join(f"  {bar}\n" for bar in bars)
        + "</svg>"
        + (f'<p class="muted">{hidden} more in the table.</p>' if hidden else "")
    )


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
            "label": _short(row.get("label")),
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


@register.simple_tag
def confusion_heatmap(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], limit: int = 30
) -> SafeString:
    """The confusion matrix as a heat-map shaded by row share (per-label recall).

    With more than ``limit`` labels only the ``limit`` most frequent actual labels are drawn.
    """
    g = heatmap_geometry(labels, matrix, limit)
    cell, half = g["cell"], g["half"]
    parts = [
        _open_svg(g["width"], g["height"], _HEATMAP_TITLE, "chart heatmap"),
        "  ",
        *(
            f'<text class="label" transform="translate({c["x"]} {c["y"]}) rotate(-60)">'
            f"{escape(c['label'])}</text>"
            for c in g["columns"]
        ),
        "\n",
    ]
    for row in g["rows"]:
        parts.append(
            f'  <text class="label" x="{g["left"] - 6}" y="{row["y"]}" text-anchor="end">'
            f"{escape(row['label'])}</text>\n    "
        )
        for c in row["cells"]:
            diagonal = " diagonal" if c["diagonal"] else ""
            text = ""
            if c["text"] != "":
                dark = " dark" if c["dark"] else ""
                text = (
                    f'<text class="count{dark}" x="{c["x"]}" y="{c["y"]}" dx="{half}"'
                    f' dy="{half}" text-anchor="middle" dominant-baseline="central">'
                    f"{c['text']}</text>"
                )
            parts.append(
                f"<g><title>{escape(c['title'])}</title>"
                f'<rect x="{c["x"]}" y="{c["y"]}" width="{cell}" height="{cell}"'
                f' fill="{c["fill"]}" class="cell{diagonal}"/>{text}</g>'
            )
        parts.append("\n  ")
    parts.append("\n</svg>")
    if g["hidden"]:
        parts.append(
            f'<p class="muted">The {g["hidden"]} least frequent labels are left out of the'
            " heat-map (the JSON and CSV exports have them all).</p>"
        )
    return mark_safe("".join(parts))


_HEATMAP_TITLE = "Confusion matrix: actual labels in rows, predicted in columns"


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
    longest = max((len(_short(labels[i], 18)) for i in order), default=4)
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
                    "fill": _shade(share),
                    "text": count if cell >= 22 and count else "",
                    "dark": share > 0.55,
                    "title": f"actual {labels[i]}, predicted {labels[j]}: {count:,} "
                    f"({share:.0%} of {labels[i]})",
                    "diagonal": i == j,
                }
            )
        rows.append(
            {"label": _short(labels[i], 18), "y": top + r * cell + cell / 2 + 4, "cells": cells}
        )
    columns = [
        {"label": _short(labels[j], 18), "x": left + c * cell + cell / 2 + 4, "y": top - 6}
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


@register.inclusion_tag("evaluations/charts/trend.html")
def trend_chart(points: Sequence[dict], title: str, width: int = 300, height: int = 130) -> dict:
    """Pass rate by version of one model: a line over the versions in registration order."""
    left, right, top, bottom = 34, 12, 8, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(points) - 1)
    dots = []
    for i, point in enumerate(points):
        rate = float(point.get("pass_rate") or 0.0)
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        dots.append(
            {
                "x": round(x, 1),
                "y": round(top + plot_h * (1 - rate), 1),
                "version": _short(point.get("model_version"), 10),
                "title": f"{point.get('model_version')}: {rate:.1%} (run #{point.get('run_id')})",
                "label_y": height - bottom + 14,
            }
        )
    return {
        "title": title,
        "width": width,
        "height": height,
        "dots": dots,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "left": left,
        "right_edge": width - right,
        "top": top,
        "mid": top + plot_h / 2,
        "base": top + plot_h,
    }


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.8123 -> "81.2%"; empty for None (an undefined figure)."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def number(value: Any, digits: int = 3) -> str:
    """A figure with at most ``digits`` decimals; an en dash for None."""
    if value is None or value == "":
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):,.{int(digits)}f}".rstrip("0").rstrip(".") or "0"


_CHANGE_LABELS = {
    "regression": "regression",
    "improvement": "improvement",
    "only_in_a": "only in A",
    "only_in_b": "only in B",
    "both_failed": "both failed",
    "both_passed": "both passed",
}


@register.filter
def change_label(kind: str) -> str:
    """A comparison outcome in words: only_in_a -> "only in A"."""
    return _CHANGE_LABELS.get(kind, kind)


@register.filter
def words(name: Any) -> str:
    """A field name for people: model_type -> "model type"."""
    return str(name).replace("_", " ")


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """mapping[key] in a template (dict keys with dots or dashes)."""
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None
