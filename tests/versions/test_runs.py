"""Runs on a golden-set version: registration (command, API, form), calls with the version's
inputs, scoring against its ground truth after a fix, the report, leaderboard and comparison."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from cases.models import TestCase
from evaluations.models import Evaluation
from evaluations.pipeline import evaluate_run
from evaluations.reports import build_leaderboard, compare_runs
from runs.execution import execute_run
from runs.ingestion import ingest_responses
from runs.models import ModelRun, RunCase
from runs.selection import register_run, selection_drift
from versions import freezing

LOVE = {"text": "I love it, great kettle", "lang": "en"}


def run_on(version, name: str = "m", model_version: str = "1", **fields) -> ModelRun:
    return register_run(
        model_name=name, model_version=model_version, model_type="nlp", version=version, **fields
    )


def answer(run: ModelRun, labels: dict[int, str]) -> None:
    ingest_responses(
        run,
        [{"test_case_id": pk, "output_data": {"label": label}} for pk, label in labels.items()],
    )


def verdicts(run: ModelRun) -> dict[int, bool]:
    return {
        e.response.test_case_id: e.passed
        for e in Evaluation.objects.filter(response__run=run).select_related("response")
    }


@pytest.mark.django_db
class TestRegistration:
    def test_command_fixes_the_versions_live_cases(self, make_case):
        kept, deleted = make_case(), make_case()
        version = freezing.freeze("v1", selection={})
        make_case()  # added after the freeze: not in the version
        TestCase.objects.filter(pk=deleted.pk).delete()
        out = StringIO()
        call_command(
            "create_run", "--model-name", "m", "--model-version", "1", "--model-type", "nlp",
            "--golden-version", "v1", stdout=out,
        )  # fmt: skip
        run = ModelRun.objects.get(pk=int(out.getvalue().split()[-1]))
        assert run.version == version and run.total_cases == 1
        assert list(RunCase.objects.filter(run=run).values_list("test_case_id", flat=True)) == [
            kept.pk
        ]
        assert run.config["selection"] == {"version": "v1"}
        TestCase.objects.filter(pk=kept.pk).update(category="edited")
        assert not selection_drift(run).changed  # a version cannot drift

    def test_command_unknown_version(self, make_case):
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="no version named 'nope'"):
            call_command(
                "create_run", "--model-name", "m", "--model-version", "1", "--model-type", "nlp",
                "--golden-version", "nope",
            )  # fmt: skip

    def test_api_by_name_and_id_and_json(self, engineer, make_case):
        make_case()
        version = freezing.freeze("v1", selection={})
        _, raw = ApiToken.objects.issue(engineer, "tests")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        body = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
        for ref in ("v1", version.pk):
            response = client.post(
                "/api/v1/runs/", json.dumps({**body, "version": ref}), "application/json"
            )
            assert response.status_code == 201, response.content
            assert response.json()["version"] == {"id": version.pk, "name": "v1"}
        plain = client.post("/api/v1/runs/", json.dumps(body), "application/json").json()
        assert plain["version"] is None
        bad = client.post("/api/v1/runs/", json.dumps({**body, "version": "x"}), "application/json")
        assert bad.status_code == 404 and "version" in bad.json()["errors"]  # names nothing
        both = {**body, "version": "v1", "selection": {"category": "x"}}
        assert client.post("/api/v1/runs/", json.dumps(both), "application/json").status_code == 400

    def test_form(self, login, engineer, make_case):
        make_case()
        version = freezing.freeze("v1", selection={})
        response = login(engineer).post(
            reverse("runs:create"),
            {"model_name": "m", "model_version": "1", "model_type": "nlp", "config": "{}",
             "version": version.pk},
        )  # fmt: skip
        run = ModelRun.objects.get()
        assert response.status_code == 302 and run.version == version
        page = login(engineer).get(run.get_absolute_url()).content.decode()
        assert 'id="run-version"' in page and "v1" in page


@pytest.mark.django_db
class TestContentsArePinned:
    def test_scoring_uses_the_versions_ground_truth_after_a_fix(self, make_case):
        case = make_case(ground_truth={"label": "positive"})
        version = freezing.freeze("v1", selection={})
        pinned = run_on(version)
        plain = register_run(model_name="m", model_version="1", model_type="nlp")
        for run in (pinned, plain):
            answer(run, {case.pk: "positive"})
            evaluate_run(run, ["label_match"])
        assert verdicts(pinned) == verdicts(plain) == {case.pk: True}
        TestCase.objects.filter(pk=case.pk).update(ground_truth={"label": "negative"})  # a fix
        for run in (pinned, plain):
            evaluate_run(run, ["label_match"])  # re-scored
        assert verdicts(pinned) == {case.pk: True}  # judged against the version's answer
        assert verdicts(plain) == {case.pk: False}  # judged against today's

    def test_default_evaluators_follow_the_versions_output_type(self, make_case):
        """No evaluator named: the default is chosen from the pinned revision's output type
        (classification: label_match), not from today's (regression), and scores the version's
        ground truth."""
        case = make_case(ground_truth={"label": "positive"}, output_type="classification")
        version = freezing.freeze("v1", selection={})
        TestCase.objects.filter(pk=case.pk).update(
            output_type="regression", ground_truth={"value": 3.0}
        )
        pinned = run_on(version)
        plain = register_run(model_name="m", model_version="1", model_type="nlp")
        answer(pinned, {case.pk: "positive"})
        ingest_responses(plain, [{"test_case_id": case.pk, "output_data": {"value": 3.0}}])
        for run in (pinned, plain):
            evaluate_run(run)
        pinned_types = set(
            Evaluation.objects.filter(response__run=pinned).values_list("evaluator_type", flat=True)
        )
        plain_types = set(
            Evaluation.objects.filter(response__run=plain).values_list("evaluator_type", flat=True)
        )
        assert pinned_types == {"label_match"} and verdicts(pinned) == {case.pk: True}
        assert plain_types == {"numeric_tolerance"} and verdicts(plain) == {case.pk: True}

    def test_execution_calls_the_versions_input(self, make_case):
        case = make_case(input_data=LOVE, ground_truth={"label": "positive"})
        version = freezing.freeze("v1", selection={})
        TestCase.objects.filter(pk=case.pk).update(
            input_data={"text": "awful terrible broken", "lang": "en"}
        )
        pinned = run_on(version, model_endpoint="python:runs.demo_models:sentiment_classifier")
        execute_run(pinned)
        assert pinned.responses.get().output_data["label"] == "positive"


@pytest.mark.django_db
class TestReports:
    def test_report_json_and_page_name_the_version(self, login, viewer, make_case):
        case = make_case()
        version = freezing.freeze("v1", selection={})
        run = run_on(version)
        answer(run, {case.pk: "positive"})
        evaluate_run(run, ["label_match"])
        client = login(viewer)
        data = client.get(reverse("evaluations:run-report", args=[run.pk]) + "?format=json")
        assert data.json()["run"]["version"] == {"id": version.pk, "name": "v1"}
        page = client.get(reverse("evaluations:run-report", args=[run.pk])).content.decode()
        assert 'id="report-version"' in page

    def test_leaderboard_ranks_per_version(self, make_case):
        cases = [make_case() for _ in range(4)]
        v1 = freezing.freeze("v1", selection={})
        v2 = freezing.freeze("v2", selection={})
        runs = {
            "v1-good": run_on(v1, "good"),
            "v1-bad": run_on(v1, "bad"),
            "v2-good": run_on(v2, "good"),
            "plain": register_run(model_name="good", model_version="1", model_type="nlp"),
        }
        for key, run in runs.items():
            answer(run, {c.pk: "negative" if key == "v1-bad" else "positive" for c in cases})
            evaluate_run(run, ["label_match"])
        groups = build_leaderboard()["groups"]
        by_version = {(g["version"] or {}).get("name"): g for g in groups}
        assert set(by_version) == {"v1", "v2", None}
        assert [row["run"]["id"] for row in by_version["v1"]["runs"]] == [
            runs["v1-good"].pk,
            runs["v1-bad"].pk,
        ]
        assert [row["run"]["id"] for row in by_version["v2"]["runs"]] == [runs["v2-good"].pk]
        assert [row["run"]["id"] for row in by_version[None]["runs"]] == [runs["plain"].pk]

    def test_comparison_across_versions_pairs_only_unchanged_cases(self, login, viewer, make_case):
        same, fixed = make_case(), make_case()
        v1 = freezing.freeze("v1", selection={})
        TestCase.objects.filter(pk=fixed.pk).update(ground_truth={"label": "negative"})
        v2 = freezing.freeze("v2", selection={})
        a, b = run_on(v1, "m", "1"), run_on(v2, "m", "2")
        for run in (a, b):
            answer(run, {same.pk: "positive", fixed.pk: "positive"})
            evaluate_run(run, ["label_match"])
        comparison = compare_runs(a, b)
        figures = comparison["evaluators"]["label_match"]
        assert figures["paired"] == 1 and figures["regressions"] == 0
        assert comparison["versions"] == {
            "a": {"id": v1.pk, "name": "v1"},
            "b": {"id": v2.pk, "name": "v2"},
            "changed_cases_left_out": 1,
        }
        assert {row["test_case_id"] for row in comparison["cases"]} == {same.pk}
        same_version = compare_runs(a, run_on(v1, "m", "3"))
        assert same_version["versions"]["changed_cases_left_out"] == 0
        page = login(viewer).get(reverse("evaluations:compare") + f"?a={a.pk}&b={b.pk}")
        assert "1 case changed between the two versions is left out" in page.content.decode()
