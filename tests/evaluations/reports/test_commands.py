"""run_report and compare_runs print what the functions compute; bad ids fail clearly."""

import csv
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from evaluations.reports import build_run_report, compare_runs


def run_command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def runs(build):
    run_a, run_b = build.run("m", "1"), build.run("m", "2")
    for i in range(6):
        case = build.case({"label": "a"}, category="x" if i < 3 else "y")
        build.judge(build.respond(run_a, case, "a", latency_ms=5 * i), "label_match")
        build.judge(build.respond(run_b, case, "a" if i % 2 else "b"), "label_match")
    return run_a, run_b


def test_run_report_json_is_the_report(runs):
    run_a, _ = runs
    printed = json.loads(run_command("run_report", str(run_a.pk)))
    assert printed == json.loads(json.dumps(build_run_report(run_a)))
    assert printed["evaluators"]["label_match"]["pass_rate"] == 1.0
    assert json.loads(run_command("run_report", str(run_a.pk), "--format", "json")) == printed


def test_run_report_csv(runs):
    run_a, _ = runs
    rows = list(
        csv.DictReader(io.StringIO(run_command("run_report", str(run_a.pk), "--format", "csv")))
    )
    figures = {(r["section"], r["metric"]): r["value"] for r in rows if not r["item"]}
    assert figures[("evaluator", "count")] == "6"
    assert figures[("latency_ms", "p50")] == "12.5"
    assert figures[("run", "id")] == str(run_a.pk)


def test_compare_runs_json_and_csv(runs):
    run_a, run_b = runs
    printed = json.loads(run_command("compare_runs", str(run_a.pk), str(run_b.pk)))
    assert printed == json.loads(json.dumps(compare_runs(run_a, run_b)))
    assert printed["evaluators"]["label_match"]["regressions"] == 3
    text = run_command("compare_runs", str(run_a.pk), str(run_b.pk), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["item"] for r in rows if r["section"] == "case"} == {
        str(c["test_case_id"]) for c in printed["cases"]
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run_report", "abc"), "RUN_ID must be a run id (a number), got 'abc'"),
        (("run_report", "999999"), "RUN_ID: there is no run #999999"),
        (("compare_runs", "999999", "1"), "RUN_A: there is no run #999999"),
        (("compare_runs", "RUN", "x"), "RUN_A must be a run id"),
    ],
)
def test_bad_run_ids_fail_with_one_clear_message(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run_command(*args)


def test_compare_names_the_second_run(runs):
    run_a, _ = runs
    with pytest.raises(CommandError, match="RUN_B: there is no run #999999"):
        run_command("compare_runs", str(run_a.pk), "999999")


def test_unknown_format_is_refused(runs):
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        run_command("run_report", str(runs[0].pk), "--format", "xml")
