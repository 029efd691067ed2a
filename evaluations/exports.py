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

from evaluations.reports.extensions import extension_block_names

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
    "trials",  # k for a repeated-trials group's row (its figures over the trials), else empty
    "trial_run_ids",
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
    yield from _trust_rows(report)
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
        if classification.get("scores"):
            yield from _score_rows(classification["scores"])
    if report.get("regression"):
        yield from _regression_rows(report["regression"])
    if report.get("multilabel"):
        multilabel = report["multilabel"]
        yield from _figures("multilabel", "multilabel_f1", "", "", multilabel)
        for label, figures in multilabel["per_label"].items():
            yield from _figures("multilabel_per_label", "multilabel_f1", "", label, figures)
    for block, evaluator in (("detection", "iou"), ("ranking", "ndcg_at_k")):
        if report[block]:
            yield from _figures(block, evaluator, "", "", report[block])
    if report["forecast"]:
        yield from _figures("forecast", "forecast_error", "", "", report["forecast"])
    for name in extension_block_names():  # e.g. grading's agreement and graders
        for key, figures in (report.get(name) or {}).items():
            yield from _figures(name, key, "", "", figures)


def _score_rows(scores: Mapping[str, Any]) -> Iterator[Row]:
    """classification.scores: its figures, per label, calibration bins, curves, thresholds."""
    evaluator = "label_match"
    yield from _figures("scores", evaluator, "", "", scores)
    for label, figures in (scores.get("per_label") or {}).items():
        yield from _figures("scores_per_label", evaluator, "", label, figures)
        for axis, values in (figures.get("roc_curve") or {}).items():  # one-vs-rest
            for i, value in enumerate(values):
                yield "roc_curve_per_label", evaluator, label, i, axis, value
    for row in scores["calibration"]:
        figures = {k: v for k, v in row.items() if k != "bin"}
        yield from _figures("calibration", evaluator, "bin", row["bin"], figures)
    for curve in ("roc_curve", "pr_curve"):
        for axis, values in (scores.get(curve) or {}).items():
            for i, value in enumerate(values):
                yield curve, evaluator, "point", i, axis, value
    grid = scores.get("thresholds")
    if grid:
        for i, threshold in enumerate(grid["thresholds"]):
            yield "thresholds", evaluator, "threshold", threshold, "tp", grid["tp"][i]
            yield "thresholds", evaluator, "threshold", threshold, "fp", grid["fp"][i]


def _regression_rows(block: Mapping[str, Any]) -> Iterator[Row]:
    evaluator = "numeric_tolerance"
    yield from _figures("regression", evaluator, "", "", block)
    for dimension, rows in block["breakdowns"].items():
        for row in rows:
            figures = {k: v for k, v in row.items() if k != "value"}
            yield from _figures("regression_breakdown", evaluator, dimension, row["value"], figures)
    histogram = block["residual_histogram"]
    width = (histogram["high"] - histogram["low"]) / len(histogram["counts"])
    for i, count in enumerate(histogram["counts"]):
        low = histogram["low"] + i * width
        yield "residual_histogram", evaluator, "", f"{low:g}-{low + width:g}", "count", count
    scatter = block["scatter"]
    for i, (actual, predicted) in enumerate(
        zip(scatter["actual"], scatter["predicted"], strict=True)
    ):
        yield "scatter", evaluator, "point", i, "actual", actual
        yield "scatter", evaluator, "point", i, "predicted", predicted


def _trust_rows(data: Mapping[str, Any]) -> Iterator[Row]:
    """Each evaluator's trust (status, reason, kappa, kappa_low, n): section ``trust``."""
    for evaluator, trust in data.get("trust", {}).items():
        yield from _figures("trust", evaluator, "", "", trust)


def comparison_rows(comparison: Mapping[str, Any]) -> Iterator[Row]:
    """The comparison as long CSV rows: both runs, per evaluator, per slice, per case."""
    yield from _figures("a", "", "", "", comparison["a"])
    yield from _figures("b", "", "", "", comparison["b"])
    yield "comparison", "", "", "", "selections_differ", comparison["selections_differ"]
    yield "comparison", "", "", "", "paired", comparison["paired"]
    for evaluator, figures in comparison["evaluators"].items():
        yield from _figures("evaluator", evaluator, "", "", figures)
    yield from _trust_rows(comparison)
    for change in comparison.get("untrusted_significant_changes", ()):
        yield (
            "untrusted_significant_change",
            change["evaluator"],
            "",
            "",
            "message",
            change["message"],
        )
    if comparison.get("auc"):
        yield from _figures("auc", "label_match", "", "", comparison["auc"])
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
                row["trials"]["k"] if row["trials"] else None,
                " ".join(map(str, row["trials"]["runs"])) if row["trials"] else None,
            )
