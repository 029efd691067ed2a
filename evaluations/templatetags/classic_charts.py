"""Inline SVG charts of the classic ML figures: ROC and precision-recall curves, the
reliability diagram, predicted vs actual and the residual histogram.

Like :mod:`.charts`: the server turns the report's stored numbers (curves already
downsampled to a few hundred points) into plain geometry and a small template draws it; no
JavaScript. Every chart has the numbers beside it in a table or as stat tiles.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import template

from evaluations.curves import threshold_figures

register = template.Library()

_LEFT, _RIGHT, _TOP, _BOTTOM = 38, 10, 8, 30
#: Line colours of a chart of several series (reports.css: .s0 ... .s7), then again.
SERIES_COLOURS = 8


@register.filter
def series_colour(number: int) -> int:
    """The colour class (``s0`` ... ``s7``) of the series numbered ``number``."""
    return number % SERIES_COLOURS


def _frame(width: int, height: int) -> dict:
    return {
        "width": width,
        "height": height,
        "left": _LEFT,
        "right_edge": width - _RIGHT,
        "top": _TOP,
        "base": height - _BOTTOM,
        "label_y": height - _BOTTOM + 12,
        "caption_y": height - 4,
        "mid_x": (_LEFT + width - _RIGHT) / 2,
    }


def _scale(low: float, high: float, start: float, end: float):
    span = (high - low) or 1.0

    def to(value: float) -> float:
        return round(start + (value - low) / span * (end - start), 1)

    return to


def _xy(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    bounds: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0),
    diagonal: bool = False,
    dots: bool = False,
    width: int = 300,
    height: int = 240,
    tips: Sequence[str] = (),
    series: Sequence[tuple[str, int, Sequence[float], Sequence[float]]] = (),
) -> dict:
    """One line (or dots) of ``xs``/``ys``, or one line per ``series`` entry (name, number,
    xs, ys) coloured by its number (:func:`series_colour`), the name as its tooltip."""
    frame = _frame(width, height)
    x_low, x_high, y_low, y_high = bounds
    x = _scale(x_low, x_high, frame["left"], frame["right_edge"])
    y = _scale(y_low, y_high, frame["base"], frame["top"])
    points = [(x(a), y(b)) for a, b in zip(xs, ys, strict=True)]
    return {
        "series": [
            {
                "name": name,
                "colour": series_colour(number),
                "points": " ".join(f"{x(a)},{y(b)}" for a, b in zip(sx, sy, strict=True)),
            }
            for name, number, sx, sy in series
        ],
        **frame,
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "x_ticks": [{"x": x(v), "text": f"{v:.3g}"} for v in (x_low, x_high)],
        "y_ticks": [{"y": y(v) + 4, "text": f"{v:.3g}"} for v in (y_low, y_high)],
        "line": "" if dots else " ".join(f"{a},{b}" for a, b in points),
        "dots": (
            [
                {"x": a, "y": b, "title": tips[i] if i < len(tips) else ""}
                for i, (a, b) in enumerate(points)
            ]
            if dots
            else []
        ),
        "diagonal": (
            {
                "x1": x(max(x_low, y_low)),
                "y1": y(max(x_low, y_low)),
                "x2": x(min(x_high, y_high)),
                "y2": y(min(x_high, y_high)),
            }
            if diagonal
            else None
        ),
    }


@register.inclusion_tag("evaluations/charts/xy.html")
def roc_chart(curve: dict, auc: float | None) -> dict:
    """The ROC curve over the chance diagonal."""
    title = f"ROC curve (AUC {auc:.3f})" if auc is not None else "ROC curve"
    return _xy(
        curve["fpr"],
        curve["tpr"],
        title=title,
        x_label="false positive rate",
        y_label="true positive rate",
        diagonal=True,
    )


@register.inclusion_tag("evaluations/charts/xy.html")
def ovr_roc_chart(per_label: dict[str, dict], auc: float | None) -> dict:
    """One-vs-rest ROC curves, one line per label that has one, coloured by the label's
    place in ``per_label`` (as the per-label table's swatches), over the chance diagonal."""
    title = "ROC curves, one vs rest"
    if auc is not None:
        title += f" (macro AUC {auc:.3f})"
    curves = [
        (label, number, figures["roc_curve"]["fpr"], figures["roc_curve"]["tpr"])
        for number, (label, figures) in enumerate(per_label.items())
        if figures.get("roc_curve")
    ]
    return _xy(
        (),
        (),
        title=title,
        x_label="false positive rate",
        y_label="true positive rate",
        diagonal=True,
        series=curves,
    )


@register.inclusion_tag("evaluations/charts/xy.html")
def pr_chart(curve: dict, average_precision: float | None) -> dict:
    """The precision-recall curve."""
    title = "Precision–recall curve"
    if average_precision is not None:
        title += f" (AP {average_precision:.3f})"
    return _xy(
        curve["recall"], curve["precision"], title=title, x_label="recall", y_label="precision"
    )


@register.inclusion_tag("evaluations/charts/xy.html")
def reliability_chart(bins: Sequence[dict], kind: str = "binary") -> dict:
    """Mean predicted probability against the observed frequency per non-empty bin, over the
    diagonal of perfect calibration; each dot's tooltip gives its count."""
    filled = [row for row in bins if row["count"]]
    observed = "fraction positive" if kind == "binary" else "fraction correct"
    return _xy(
        [row["mean_predicted"] for row in filled],
        [row["fraction_positive"] for row in filled],
        title="Reliability diagram",
        x_label="mean predicted probability",
        y_label=observed,
        diagonal=True,
        dots=True,
        tips=[
            f"{row['low']:.1f}–{row['high']:.1f}: {row['count']:,} responses, "
            f"predicted {row['mean_predicted']:.3f}, observed {row['fraction_positive']:.3f}"
            for row in filled
        ],
    )


@register.inclusion_tag("evaluations/charts/xy.html")
def scatter_chart(scatter: dict) -> dict:
    """Predicted against actual (the report's bounded sample), over the line y = x."""
    actual, predicted = scatter["actual"], scatter["predicted"]
    values = [*actual, *predicted] or [0.0, 1.0]
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    return _xy(
        actual,
        predicted,
        title=f"Predicted vs actual ({len(actual):,} sampled responses)",
        x_label="actual",
        y_label="predicted",
        bounds=(low, high, low, high),
        diagonal=True,
        dots=True,
        tips=[f"actual {a:g}, predicted {p:g}" for a, p in zip(actual, predicted, strict=True)],
    )


@register.inclusion_tag("evaluations/charts/bins.html")
def residual_chart(histogram: dict, width: int = 320, height: int = 150) -> dict:
    """The residual histogram (predicted - actual) with its range on the axis."""
    frame = _frame(width, height)
    counts: list[int] = histogram["counts"]
    low, high = histogram["low"], histogram["high"]
    plot_w = frame["right_edge"] - frame["left"]
    plot_h = frame["base"] - frame["top"]
    step = plot_w / max(1, len(counts))
    bin_width = (high - low) / max(1, len(counts))
    peak = max(counts, default=0) or 1
    bars = []
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        start = low + i * bin_width
        bars.append(
            {
                "x": round(frame["left"] + i * step + 1, 1),
                "y": round(frame["base"] - h, 1),
                "w": round(max(1.0, step - 2), 1),
                "h": round(h, 1),
                "title": f"{start:.4g} to {start + bin_width:.4g}: {count:,}",
            }
        )
    zero = None
    if low < 0 < high:
        zero = _scale(low, high, frame["left"], frame["right_edge"])(0.0)
    return {
        **frame,
        "title": "Residuals (predicted − actual)",
        "bars": bars,
        "peak": f"{max(counts, default=0):,}",
        "first": f"{low:.4g}",
        "last": f"{high:.4g}",
        "zero": zero,
    }


@register.simple_tag
def threshold_at(scores: dict, threshold: float | None) -> dict | None:
    """The threshold explorer's figures at the run's threshold (0.5 when it has none)."""
    grid = scores.get("thresholds")
    return threshold_figures(grid, 0.5 if threshold is None else float(threshold)) if grid else None
