"""JSON and CSV renderings of the report, comparison and leaderboard dicts.

Only rendering: every figure comes from :mod:`evaluations.reports`. The pages' downloads and
the ``run_report`` / ``compare_runs`` commands call these, so a file from either is the same.

The report and comparison CSVs are "long" (one figure per row) so nested blocks fit one
table and pivot in any spreadsheet: ``section, evaluator, dimension, item, metric, value``.
The leaderboard CSV is one row per run.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

LONG_COLUMNS = ("section", "evaluator", "dimension", "item", "metric", "value")
LEADERBOARD_COLUMNS = (
    "model_type",
    "selection",
    "evaluator",
    "rank",
    "run_id",
    "model_name",
    "model_version",
    "status",
    "count",
    "passed",
    "pass_rate",
    "pass_rate_ci95_low",
    "pass_rate_ci95_high",
    "mean_score",
    "latency_p95",
    "tokens_total",
    "tokens_mean",
)

Row = tuple[Any, ...]


def to_json(data: Mapping[str, Any]) -> str:
    """Indented JSON; every figure is already a plain, finite number."""
    return json.dumps(data, indent=2, allow_nan=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_csv(rows: Iterable[Row], out: io.TextIOBase, header: Iterable[str]) -> None:
    """Write a header and rows to a text stream (a file, an HttpResponse, stdout)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])


def to_csv(rows: Iterable[Row], header: Iterable[str] = LONG_COLUMNS) -> str:
    buffer = io.StringIO()
    write_csv(rows, buffer, header)
    return buffer.getvalue()


def _figures(
    section: str, evaluator: str, dimension: str, item: Any, figures: Mapping[str, Any]
) -> Iterator[Row]:
    """One row per scalar figure; an interval [low, high] becomes two rows."""
    for metric, value in figures.items():
        if isinstance(value, list) and metric.endswith("_ci95") and len(value) == 2:
            yield section, evaluator, dimension, item, f"{metric}_low", value[0]
            yield section, evaluator, dimension, item, f"{metric}_high", value[1]
        elif not isinstance(value, dict | list) or metric == "selection":
            yield section, evaluator, dimension, item, metric, value


def report_rows(report: Mapping[str, Any]) -> Iterator[Row]:
    """The run report as long CSV rows."""
    yield from _figures("run", "", "", "", report["run"])
    yield from _figures("cases", "", "", "", report["cases"])
    if report["cases"].get("selection_drift"):
        yield from _figures("selection_drift", "", "", "", report["cases"]["selection_drift"])
    for evaluator, figures in report["evaluators"].items():
        yield from _figures("evaluator", evaluator, "", "", figures)
        for i, count in enumerate(figures["histogram"]):
            yield "histogram", evaluator, "", f"{i / 10:.1f}-{(i + 1) / 10:.1f}", "count", count
    latency = report["latency_ms"]
    yield from _figures("latency_ms", "", "", "", latency)
    histogram = latency.get("histogram")
    if histogram:
        width = histogram["bin_width"]
        for i, count in enumerate(histogram["counts"]):
            yield "latency_histogram", "", "", f"{i * width:g}-{(i + 1) * width:g}", "count", count
        beyond = f">={width * len(histogram['counts']):g}"
        yield "latency_histogram", "", "", beyond, "count", histogram["overflow"]
    yield from _figures("tokens", "", "", "", report["tokens"])
    yield from _figures("memory_mb", "", "", "", report["memory_mb"])
    yield "errors", "", "", "", "count", report["errors"]
    for dimension, rows in report["breakdowns"].items():
        for row in rows:
            figures = {k: row[k] for k in ("count", "pass_rate", "mean_score")}
            yield from _figures("breakdown", row["evaluator"], dimension, row["value"], figures)
    classification = report["classification"]
    if classification:
        evaluator = "label_match"
        labels = classification["labels"]
        for actual, counts in zip(labels, classification["confusion_matrix"], strict=True):
            for predicted, count in zip(labels, counts, strict=True):
                yield "confusion_matrix", evaluator, actual, predicted, "count", count
        for label, figures in classification["per_label"].items():
            yield from _figures("per_label", evaluator, "", label, figures)
        yield from _figures("classification", evaluator, "", "", classification)
        if classification["binary"]:
            yield from _figures("binary", evaluator, "", "", classification["binary"])
    for block, evaluator in (("detection", "iou"), ("ranking", "ndcg_at_k")):
        if report[block]:
            yield from _figures(block, evaluator, "", "", report[block])
    if report["forecast"]:
        yield from _figures("forecast", "forecast_error", "", "", report["forecast"])


def comparison_rows(comparison: Mapping[str, Any]) -> Iterator[Row]:
    """The comparison as long CSV rows: both runs, per evaluator, per slice, per case."""
    yield from _figures("a", "", "", "", comparison["a"])
    yield from _figures("b", "", "", "", comparison["b"])
    yield "comparison", "", "", "", "selections_differ", comparison["selections_differ"]
    yield "comparison", "", "", "", "paired", comparison["paired"]
    for evaluator, figures in comparison["evaluators"].items():
        yield from _figures("evaluator", evaluator, "", "", figures)
    for row in comparison["slices"]:
        figures = {k: v for k, v in row.items() if k not in ("dimension", "value", "evaluator")}
        yield from _figures("slice", row["evaluator"], row["dimension"], row["value"], figures)
    for row in comparison["cases"]:
        for metric in ("a_passed", "b_passed", "a_score", "b_score"):
            yield "case", row["evaluator"], row["change"], row["test_case_id"], metric, row[metric]


def leaderboard_rows(board: Mapping[str, Any]) -> Iterator[Row]:
    """One row per run of every group (LEADERBOARD_COLUMNS)."""
    for group in board["groups"]:
        for row in group["runs"]:
            run = row["run"]
            interval = row["pass_rate_ci95"] or [None, None]
            yield (
                group["model_type"],
                group["selection"],
                group["evaluator"],
                row["rank"],
                run["id"],
                run["model_name"],
                run["model_version"],
                run["status"],
                row["count"],
                row["passed"],
                row["pass_rate"],
                interval[0],
                interval[1],
                row["mean_score"],
                row["latency_p95"],
                row["tokens_total"],
                row["tokens_mean"],
            )
