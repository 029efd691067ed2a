"""The CI gate (evaluations/gate.py) through `compare_runs --fail-on regression` and
/api/v1/gate/: planted regressions overall and in one slice, a non-significant change, no
paired cases, bad arguments, the latest:<model> baseline, JUnit and Markdown outputs."""

from xml.etree import ElementTree as ET

import pytest
from django.core.management import CommandError, call_command

from evaluations.gate import resolve_run
from runs import baselines
from runs.models import ModelRun


def plant(build, outcomes: list[tuple[str, bool, bool]], name: str = "m"):
    """Two runs of model `name` scored by label_match: one (category, A passed, B passed) per
    case."""
    run_a, run_b = build.run(name), build.run(name)
    for category, in_a, in_b in outcomes:
        case = build.case({"label": "a"}, category=category)
        for run, passed in ((run_a, in_a), (run_b, in_b)):
            build.verdict(build.respond(run, case, {}), "label_match", float(passed), passed)
    return run_a, run_b


def gate_exit(run_a, run_b, *args: str) -> int:
    try:
        call_command("compare_runs", str(run_a), str(run_b), "--fail-on", "regression", *args)
    except SystemExit as stop:
        return stop.code
    return 0


REGRESSION = [("hard", True, i >= 20) for i in range(40)]  # 20 regressions, 0 improvements


def test_planted_regression_fails_with_junit_and_markdown(build, tmp_path, capsys):
    run_a, run_b = plant(build, REGRESSION)
    junit, markdown = tmp_path / "gate.xml", tmp_path / "gate.md"
    code = gate_exit(run_a.pk, run_b.pk, "--junit", str(junit), "--markdown", str(markdown))
    assert code == 1
    out = capsys.readouterr().out
    assert "significant regression" in out
    assert "[REGRESSION] label_match / overall: 100.0% -> 50.0% (-50.0 pts)" in out
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    cases = suite.findall("testcase")
    # one per evaluator overall and per slice (category, difficulty, model type)
    assert {case.get("name") for case in cases} == {
        "label_match / overall",
        "label_match / category=hard",
        "label_match / difficulty=",
        "label_match / model_type=nlp",
    }
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert "label_match / overall" in failed
    assert suite.get("failures") == str(len(failed))
    assert "label_match / overall" in markdown.read_text()
    assert "**regression**" in markdown.read_text()


def test_regression_in_one_slice_only_is_named(build, capsys):
    # Overall 10 regressions vs 10 improvements (McNemar p = 1); all 10 regressions in "hard".
    outcomes = [("hard", True, False)] * 10 + [("hard", True, True)] * 10
    outcomes += [("easy", False, True)] * 10 + [("easy", True, True)] * 10
    run_a, run_b = plant(build, outcomes)
    assert gate_exit(run_a.pk, run_b.pk) == 1
    out = capsys.readouterr().out
    assert "label_match / category=hard" in out.splitlines()[2]
    assert "[ok] label_match / overall" in out
    assert "[REGRESSION] label_match / category=hard" in out
    assert "category=easy" not in out  # an improvement is no regression


def test_non_significant_change_passes(build, tmp_path, capsys):
    outcomes = [("hard", True, i >= 2) for i in range(40)]  # 2 regressions: p = 0.5
    run_a, run_b = plant(build, outcomes)
    junit = tmp_path / "gate.xml"
    assert gate_exit(run_a.pk, run_b.pk, "--junit", str(junit)) == 0
    assert "no significant regression" in capsys.readouterr().out
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and suite.find("testcase/failure") is None


def test_min_delta_and_alpha_loosen_the_gate(build):
    run_a, run_b = plant(build, REGRESSION)
    assert gate_exit(run_a.pk, run_b.pk, "--min-delta", "0.5") == 0  # a 50-point drop, not more
    assert gate_exit(run_a.pk, run_b.pk, "--min-delta", "0.49") == 1
    assert gate_exit(run_a.pk, run_b.pk, "--alpha", "1e-7") == 0  # p = 2 * 0.5**20 ~ 1.9e-6


def test_no_paired_cases_exits_2_with_a_message(build, tmp_path, capsys):
    run_a, run_b = build.run("m"), build.run("m")
    case_a, case_b = build.case({"label": "a"}), build.case({"label": "a"})
    build.verdict(build.respond(run_a, case_a, {}), "label_match", 1.0)
    build.verdict(build.respond(run_b, case_b, {}), "label_match", 0.0)
    junit = tmp_path / "gate.xml"
    assert gate_exit(run_a.pk, run_b.pk, "--junit", str(junit)) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert ET.parse(junit).getroot().find("testcase/error") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("999999", "{b}"), "RUN_A: there is no run #999999"),
        (("{a}", "abc"), "RUN_B: give a run id, latest:<model name> or baseline:<model name>"),
        (("latest:nobody", "{b}"), "no completed run of model 'nobody'"),
        (("baseline:m", "{b}"), "model 'm' has no baseline on the cases of run"),
        (("baseline", "{b}"), "model 'm' has no baseline on the cases of run"),
        (("{a}", "{b}", "--evaluator", "iou"), "evaluator 'iou' scored neither run"),
        (("{a}", "{b}", "--alpha", "2"), "alpha must be between 0 and 1"),
    ],
)
def test_bad_arguments_exit_2(build, args, message):
    run_a, run_b = plant(build, REGRESSION[:4])
    args = [arg.format(a=run_a.pk, b=run_b.pk) for arg in args]
    with pytest.raises(CommandError, match=message) as error:
        call_command("compare_runs", *args, "--fail-on", "regression")
    assert error.value.returncode == 2


def test_latest_baseline_is_the_newest_completed_run_of_the_model_on_the_same_cases(build):
    run_a, run_b = plant(build, REGRESSION, name="prod")
    # A newer run of the model that did not complete, and one on other cases: both skipped.
    build.run("prod", status=ModelRun.Status.FAILED)
    build.run("prod", cases_hash="other")
    for run in (run_a, run_b):
        run.cases_hash = "same"
        run.save(update_fields=["cases_hash"])
    assert resolve_run("latest:prod", run_b) == run_a
    assert gate_exit("latest:prod", run_b.pk) == 1


def test_baseline_selector_is_the_marked_run_on_the_same_cases(build, login, engineer):
    run_a, run_b = plant(build, REGRESSION, name="prod")
    newest = build.run("prod")  # newer than run_a: latest: would pick it, baseline: does not
    other_cases = build.run("prod")
    for run, cases_hash in ((run_a, "same"), (run_b, "same"), (newest, "same"), (other_cases, "x")):
        run.cases_hash = cases_hash
        run.save(update_fields=["cases_hash"])
    baselines.mark(other_cases)  # the model's baseline on other cases: not this one's
    assert resolve_run("latest:prod", run_b) == newest
    with pytest.raises(ValueError, match="no baseline"):
        resolve_run("baseline:prod", run_b)
    baselines.mark(run_a)
    assert resolve_run("baseline:prod", run_b) == run_a
    assert resolve_run("baseline", run_b) == run_a  # the candidate's own model
    assert gate_exit("baseline:prod", run_b.pk) == 1
    body = login(engineer).get(f"/api/v1/gate/?baseline=baseline&candidate={run_b.pk}").json()
    assert body["exit_code"] == 1 and body["baseline"]["id"] == run_a.pk
    with pytest.raises(ValueError, match="it is the baseline itself"):
        resolve_run("baseline", run_a)


def test_api_gives_the_same_verdict(build, login, engineer):
    run_a, run_b = plant(build, REGRESSION)
    client = login(engineer)
    body = client.get(f"/api/v1/gate/?baseline={run_a.pk}&candidate={run_b.pk}").json()
    assert body["exit_code"] == 1 and body["status"] == "regression"
    assert ET.fromstring(body["junit"].split("?>", 1)[1]).tag == "testsuite"
    assert "label_match / overall" in body["summary"]
    body = client.get(
        f"/api/v1/gate/?baseline={run_a.pk}&candidate={run_b.pk}&min_delta=0.5"
    ).json()
    assert body["exit_code"] == 0
    error = client.get(f"/api/v1/gate/?baseline=latest:x&candidate={run_b.pk}")
    assert error.status_code == 404  # a well-formed selector with no run behind it
    assert "no completed run of model 'x'" in error.json()["detail"]
    assert client.get(f"/api/v1/gate/?baseline=999999&candidate={run_b.pk}").status_code == 404
    assert (
        client.get(
            f"/api/v1/gate/?baseline={run_a.pk}&candidate={run_b.pk}&evaluator=x"
        ).status_code
        == 404
    )
    assert client.get("/api/v1/gate/?baseline=1").status_code == 400  # no candidate
    for bad in ("oldest:x", " 1", "²", "latest:a\x00"):
        response = client.get("/api/v1/gate/", {"baseline": bad, "candidate": run_b.pk})
        assert response.status_code == 400, bad
    assert (
        client.get(f"/api/v1/gate/?baseline={run_a.pk}&candidate={run_b.pk}&alpha=1").status_code
        == 400
    )
