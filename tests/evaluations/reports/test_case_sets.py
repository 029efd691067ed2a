"""Runs are paired and grouped by the cases they were computed on, whatever way their selection
was written; a comparison with nothing paired shows no figures."""

import importlib
import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from cases.selection import canonical_selection
from evaluations.reports import build_leaderboard, compare_runs
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests.baker_recipes import make_cases

RUN = {"model_type": "nlp", "model_version": "1"}


def scored(run: ModelRun, build, passes: int | None = None) -> ModelRun:
    """A response and a label_match verdict for each of the run's cases."""
    for i, case_id in enumerate(run.run_cases.values_list("test_case_id", flat=True)):
        response = Response.objects.create(run=run, test_case_id=case_id, output_data={})
        passed = passes is None or i < passes
        build.verdict(response, "label_match", float(passed), passed)
    return run


@pytest.fixture
def nlp_cases(db):
    return make_cases(45, model_type="nlp")


class TestCanonicalSelection:
    def test_one_form_whatever_the_writing(self):
        page = {"is_verified": "unknown", "tags": "b, a", "category": "", "sort": "-id"}
        api = {"tags": ["a", "b"], "scope": "golden"}
        assert (
            canonical_selection(page)
            == canonical_selection(api)
            == {
                "scope": "golden",
                "tags": ["a", "b"],
            }
        )

    def test_values_become_their_json_form(self):
        selection = canonical_selection(
            {
                "is_verified": "false",
                "ids": "8,3",
                "created_after": "2026-01-02",
                "json_in": "metadata",
            }
        )
        # an unverified filter widens golden to every case; json_in without json is dropped
        assert selection == {
            "created_after": "2026-01-02",
            "ids": [3, 8],
            "is_verified": False,
            "scope": "all",
        }

    def test_page_api_and_command_store_the_same_selection(self, nlp_cases, login, engineer):
        login(engineer).post(
            "/runs/new/",
            {
                "model_name": "page",
                **RUN,
                "scope": "golden",
                "is_verified": "unknown",
                "category": "",
            },
        )
        response = login(engineer).post(
            "/api/v1/runs/",
            json.dumps({"model_name": "api", **RUN, "selection": {}}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.json()
        call_command(
            "create_run", "--model-name", "cli", "--model-version", "1", "--model-type", "nlp",
            stdout=io.StringIO(),
        )  # fmt: skip
        page, api, cli = ModelRun.objects.order_by("id")
        assert (
            page.selection
            == api.selection
            == cli.selection
            == {
                "model_type": "nlp",
                "scope": "golden",
            }
        )
        assert page.cases_hash == api.cases_hash == cli.cases_hash != ""
        assert compare_runs(page, api)["selections_differ"] is False


class TestPairingAndGrouping:
    def test_runs_over_40_and_45_cases_are_not_one_group(self, build, db):
        cases = make_cases(40, model_type="nlp")
        before = scored(register_run(model_name="m", **RUN), build)
        make_cases(5, model_type="nlp")
        after = scored(register_run(model_name="m", **{**RUN, "model_version": "2"}), build)
        assert before.selection == after.selection  # the same filters, other cases
        groups = build_leaderboard()["groups"]
        assert [[row["run"]["id"] for row in g["runs"]] for g in groups] == [
            [before.pk],
            [after.pk],
        ]
        assert [g["cases"] for g in groups] == [len(cases), 45]
        assert compare_runs(before, after)["selections_differ"] is True

    def test_different_selections_of_the_same_cases_share_a_group_and_say_so(self, build, db):
        make_cases(10, model_type="nlp", category="sentiment")
        one = scored(register_run(model_name="a", **RUN), build, passes=8)
        two = scored(
            register_run(model_name="b", **RUN, selection={"category": "sentiment"}),
            build,
            passes=5,
        )
        (group,) = build_leaderboard()["groups"]
        assert [row["run"]["id"] for row in group["runs"]] == [one.pk, two.pk]
        assert group["selections_differ"] is True and len(group["selection_labels"]) == 2
        assert compare_runs(one, two)["selections_differ"] is False

    def test_the_page_says_when_a_groups_runs_differ(self, build, login, viewer, db):
        make_cases(4, model_type="nlp", category="sentiment")
        first = scored(register_run(model_name="a", **RUN), build)
        second = register_run(model_name="b", **RUN, selection={"category": "sentiment"})
        scored(second, build)
        Response.objects.filter(run=second).first().evaluations.all().delete()
        page = login(viewer).get("/leaderboard/").content.decode()
        assert "different selections" in page and "4 cases" in page
        assert "scored on different numbers of cases (3 to 4 verdicts)" in page
        assert first.cases_hash == second.cases_hash


class TestNothingPaired:
    def test_no_figures_in_the_json(self, build, nlp_cases):
        run_a = register_run(model_name="a", **RUN)  # no verdicts
        run_b = scored(register_run(model_name="b", **RUN), build)
        comparison = compare_runs(run_a, run_b)
        figures = comparison["evaluators"]["label_match"]
        assert comparison["paired"] == 0 and figures["paired"] == 0
        assert figures["only_in_b"] == 45
        for key in (
            "pass_rate_a",
            "pass_rate_b",
            "pass_rate_delta",
            "mean_score_a",
            "mean_score_b",
            "mean_score_delta",
            "mcnemar_p",
            "bootstrap_ci95",
            "mde",
            "pass_rate_a_ci95",
        ):
            assert figures[key] is None, key

    def test_the_page_says_so_and_shows_no_rates(self, build, nlp_cases, login, viewer):
        run_a = register_run(model_name="a", **RUN)
        run_b = scored(register_run(model_name="b", **RUN), build)
        page = login(viewer).get(f"/runs/compare/?a={run_a.pk}&b={run_b.pk}")
        html = page.content.decode()
        assert page.status_code == 200 and 'id="nothing-paired"' in html
        assert "no paired cases: nothing to compare" in html
        assert "p = " not in html and "0.0% → 0.0%" not in html and "% →" not in html

    def test_the_api_says_paired_0_and_null(self, build, nlp_cases, login, viewer):
        run_a = register_run(model_name="a", **RUN)
        run_b = scored(register_run(model_name="b", **RUN), build)
        body = login(viewer).get(f"/api/v1/compare/?a={run_a.pk}&b={run_b.pk}").json()
        assert body["paired"] == 0 and body["evaluators"]["label_match"]["pass_rate_a"] is None


class TestMigration:
    migration = importlib.import_module("runs.migrations.0008_run_cases_hash")

    def test_stored_selections_become_canonical_and_hashes_are_filled(self, build, nlp_cases):
        run = register_run(model_name="a", **RUN)
        ModelRun.objects.filter(pk=run.pk).update(
            cases_hash="",
            config={"selection": {"model_type": "nlp", "is_verified": "unknown", "tags": "x"}},
        )
        broken = build.run(config={"selection": {"no_such_filter": 1}})

        class Editor:
            def execute(self, sql, params=None):
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)

        self.migration.fill_cases_hash(apps, Editor())
        self.migration.canonical_selections(apps, Editor())
        run.refresh_from_db()
        broken.refresh_from_db()
        assert run.selection == {"model_type": "nlp", "scope": "golden", "tags": ["x"]}
        assert run.cases_hash == register_run(model_name="b", **RUN).cases_hash
        assert broken.selection == {"no_such_filter": 1} and broken.cases_hash == ""
