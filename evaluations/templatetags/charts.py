"""Inline SVG charts drawn from numbers the server computed: no JavaScript, no CDN.

Each tag turns report figures into plain geometry (rectangles, points, labels). The run
report's charts (columns, rates, heat-map) write their SVG here in Python with format_html
(every value escaped) from the geometry in evaluations/reports/chart_geometry.py:
a report page draws hundreds of bars, and the template engine's per-variable resolving and
number localizing cost tens of milliseconds of a page meant to take a few; the others render
a small template under ``evaluations/charts/``. The same numbers are always in a table next to
the chart, so the chart is a reading aid only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from evaluations.reports.chart_geometry import (
    column_geometry,
    heatmap_geometry,
    rate_geometry,
    short,
)

register = template.Library()


@register.filter
def ago(moment) -> str:
    """ "just now" under a minute, else Django's "3 minutes ago" (never "0 minutes ago")."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


def _open_svg(width: Any, height: Any, label: str, css: str = "chart") -> SafeString:
    # escape() even a template's literal title, which Django marks safe: it lands in an attribute.
    label = escape(label)
    return format_html(
        '<svg class="{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>\n",
        css,
        width,
        height,
        width,
        height,
        label,
        label,
    )


def _joined(parts: Iterable[SafeString]) -> SafeString:
    """Concatenates pieces already built by format_html (each escaped where it was made)."""
    return format_html_join("", "{}", ((part,) for part in parts))


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
    bars = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        ((b["x"], b["y"], b["w"], b["h"], b["title"]) for b in g["bars"]),
    )
    return _joined(
        [
            _open_svg(g["width"], g["height"], title),
            format_html(
                '  <line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>\n'
                '  <line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>\n'
                '  <text class="tick" x="{}" y="{}" text-anchor="end">{}</text>\n'
                '  <text class="tick" x="{}" y="{}" text-anchor="end">0</text>\n'
                "  {}\n"
                '  <text class="tick" x="{}" y="{}">{}</text>\n'
                '  <text class="tick" x="{}" y="{}" text-anchor="end">{}</text>\n</svg>',
                left,
                base,
                right,
                base,
                left,
                top,
                left,
                base,
                left - 4,
                top + 8,
                g["peak"],
                left - 4,
                base,
                bars,
                left,
                g["label_y"],
                g["first"],
                right,
                g["label_y"],
                g["last"],
            ),
        ]
    )


@register.simple_tag
def rate_chart(rows: Sequence[dict], title: str, width: int = 420, limit: int = 25) -> SafeString:
    """Horizontal bars of rates in [0, 1] with their labels: pass rate by slice.

    Each row: ``label``, ``rate`` and optionally ``low``/``high`` (an interval whisker) and
    ``count``; at most ``limit`` rows (the table lists them all).
    """
    g = rate_geometry(rows, title, width, limit)
    x0, half, x1, plot_w = g["x0"], g["x_half"], g["x1"], g["plot_w"]
    parts = [
        _open_svg(g["width"], g["height"], title),
        format_html(
            '  <text class="tick" x="{}" y="10" text-anchor="middle">0%</text>\n'
            '  <text class="tick" x="{}" y="10" text-anchor="middle">50%</text>\n'
            '  <text class="tick" x="{}" y="10" text-anchor="middle">100%</text>\n'
            '  <line class="grid" x1="{}" y1="14" x2="{}" y2="{}"/>\n',
            x0,
            half,
            x1,
            half,
            half,
            g["bottom"],
        ),
    ]
    for b in g["bars"]:
        whisker = b.get("whisker")
        parts.append(
            format_html(
                "  <g><title>{}</title>\n"
                '    <text class="label" x="{}" y="{}" text-anchor="end">{}</text>\n'
                '    <rect class="track" x="{}" y="{}" width="{}" height="14"/>\n'
                '    <rect class="bar" x="{}" y="{}" width="{}" height="14"/>\n'
                "{}"
                '    <text class="value" x="{}" y="{}">{}</text></g>\n',
                b["full"],
                x0 - 6,
                b["text_y"],
                b["label"],
                x0,
                b["y"],
                plot_w,
                x0,
                b["y"],
                b["w"],
                format_html(
                    '    <line class="whisker" x1="{}" y1="{}" x2="{}" y2="{}"/>\n',
                    whisker["x1"],
                    whisker["y"],
                    whisker["x2"],
                    whisker["y"],
                )
                if whisker
                else "",
                b["value_x"],
                b["text_y"],
                b["value"],
            )
        )
    hidden = g["hidden"]
    note = format_html('<p class="muted">{} more in the table.</p>', hidden) if hidden else ""
    return format_html("{}</svg>{}", _joined(parts), note)


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
        format_html_join(
            "",
            '<text class="label" transform="translate({} {}) rotate(-60)">{}</text>',
            ((c["x"], c["y"], c["label"]) for c in g["columns"]),
        ),
    ]
    for row in g["rows"]:
        parts.append(
            format_html(
                '\n  <text class="label" x="{}" y="{}" text-anchor="end">{}</text>\n    ',
                g["left"] - 6,
                row["y"],
                row["label"],
            )
        )
        for c in row["cells"]:
            text = ""
            if c["text"] != "":
                text = format_html(
                    '<text class="count{}" x="{}" y="{}" dx="{}" dy="{}" text-anchor="middle"'
                    ' dominant-baseline="central">{}</text>',
                    " dark" if c["dark"] else "",
                    c["x"],
                    c["y"],
                    half,
                    half,
                    c["text"],
                )
            parts.append(
                format_html(
                    '<g><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="{}"'
                    ' class="cell{}"/>{}</g>',
                    c["title"],
                    c["x"],
                    c["y"],
                    cell,
                    cell,
                    c["fill"],
                    " diagonal" if c["diagonal"] else "",
                    text,
                )
            )
    note = ""
    if g["hidden"]:
        note = format_html(
            '<p class="muted">The {} least frequent labels are left out of the heat-map'
            " (the JSON and CSV exports have them all).</p>",
            g["hidden"],
        )
    return format_html("{}\n</svg>{}", _joined(parts), note)


_HEATMAP_TITLE = "Confusion matrix: actual labels in rows, predicted in columns"


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
                "version": short(point.get("model_version"), 10),
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
