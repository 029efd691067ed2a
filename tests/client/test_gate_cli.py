"""`mleval gate` against a live server: a planted significant regression (exit 1, valid JUnit
naming it), a non-significant change (exit 0), no paired cases (exit 2), a bad argument."""

import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from mleval_client.cli import main

from accounts.models import ApiToken
from evaluations.models import Evaluation
from runs.models import ModelRun, Response


def scored_runs(make_case, outcomes: list[tuple[bool, bool]]) -> tuple[ModelRun, ModelRun]:
    """Two completed runs scored by label_match, one (A passed, B passed) per case; a None
    leaves that run without the case."""
    runs = [
        ModelRun.objects.create(
            model_name="gated",
            model_version=v,
            model_type="nlp",
            status="completed",
            config={"selection": {"category": "sentiment"}},
        )
        for v in ("1", "2")
    ]
    for outcome in outcomes:
        case = make_case()
        for run, passed in zip(runs, outcome, strict=True):
            if passed is None:
                continue
            response = Response.objects.create(run=run, test_case=case, output_data={})
            Evaluation.objects.create(
                response=response, evaluator_type="label_match", score=float(passed), passed=passed
            )
    return runs[0], runs[1]


@pytest.fixture
def gate(live_server, viewer):
    """gate(*args) -> the exit code of `mleval gate` with the viewer's token."""
    _, raw = ApiToken.objects.issue(viewer, "ci")

    def run(*args: str) -> int:
        return main(["--url", live_server.url, "--token", raw, "gate", *args])

    run.token = raw
    return run


def test_planted_regression_fails_the_build(make_case, gate, tmp_path, capsys):
    run_a, run_b = scored_runs(make_case, [(True, i >= 20) for i in range(30)])
    junit, markdown = tmp_path / "junit.xml", tmp_path / "gate.md"
    code = gate(
        "--baseline", str(run_a.pk), "--candidate", str(run_b.pk),
        "--junit", str(junit), "--markdown", str(markdown),
    )  # fmt: skip
    assert code == 1
    assert "[REGRESSION] label_match / overall" in capsys.readouterr().out
    suite = ET.parse(junit).getroot()
    failures = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert "label_match / overall" in failures
    assert int(suite.get("failures")) == len(failures)
    assert "**regression**" in markdown.read_text()


def test_non_significant_change_passes(make_case, gate, capsys):
    run_a, run_b = scored_runs(make_case, [(True, i >= 2) for i in range(30)])
    assert gate("--baseline", str(run_a.pk), "--candidate", str(run_b.pk)) == 0
    assert "no significant regression" in capsys.readouterr().out


def test_min_delta_and_evaluator_reach_the_server(make_case, gate, capsys):
    run_a, run_b = scored_runs(make_case, [(True, i >= 20) for i in range(30)])
    args = ("--baseline", str(run_a.pk), "--candidate", str(run_b.pk))
    assert gate(*args, "--min-delta", "0.7", "--evaluator", "label_match") == 0
    assert gate(*args, "--evaluator", "iou") == 2
    assert "evaluator 'iou' scored neither run" in capsys.readouterr().err


def test_no_paired_cases_exits_2(make_case, gate, capsys):
    run_a, run_b = scored_runs(make_case, [(True, None), (None, False)])
    assert gate("--baseline", str(run_a.pk), "--candidate", str(run_b.pk)) == 2
    assert "nothing to compare" in capsys.readouterr().err


def test_unknown_run_exits_2(gate, capsys):
    assert gate("--baseline", "latest:gated", "--candidate", "999999") == 2
    assert "there is no run #999999" in capsys.readouterr().err


def test_console_script(make_case, gate, live_server):
    script = shutil.which("mleval", path=str(Path(sys.executable).parent))
    assert script, "pip install -e ./client installs the mleval console script"
    run_a, run_b = scored_runs(make_case, [(True, i >= 20) for i in range(30)])
    done = subprocess.run(
        [script, "gate", "--baseline", "latest:gated", "--candidate", str(run_b.pk)],
        env={"MLEVAL_URL": live_server.url, "MLEVAL_TOKEN": gate.token, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"baseline  run #{run_a.pk}" in done.stdout
