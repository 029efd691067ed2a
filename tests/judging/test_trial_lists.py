"""A repeated-trials group in lists of runs: one entry on the leaderboard (page, JSON, CSV)
and on its model's page, with the mean pass rate over its trials and each trial reachable."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluations import stats
from evaluations.models import Evaluation
from runs.models import ModelRun, Response, RunCase
from runs.selection import register_run
from tests.judging.test_trials import register, score_table

pytestmark = pytest.mark.django_db

# test_trials.TABLE per trial: trial 1 passes 3 of the 4 cases, trial 2 passes 2, trial 3 one.
MEAN_PASS_RATE = (3 / 4 + 2 / 4 + 1 / 4) / 3


def trials_of(run: ModelRun) -> list[int]:
    return list(
        ModelRun.objects.filter(config__trial_group=run.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def single_run(passing: int) -> ModelRun:
    """A run without trials on the same cases, ``passing`` of them passed."""
    run = register_run(model_name="steady", model_version="1", model_type="nlp")
    for index, case_id in enumerate(
        RunCase.objects.filter(run=run)
        .order_by("test_case_id")
        .values_list("test_case_id", flat=True)
    ):
        response = Response.objects.create(run=run, test_case_id=case_id, output_data={})
        passed = index < passing
        Evaluation.objects.create(
            response=response, evaluator_type="label_match", score=float(passed), passed=passed
        )
    return run


def test_the_leaderboard_lists_a_trial_group_once_with_its_mean_pass_rate(login, viewer):
    noisy = register(3)
    score_table(noisy)
    trials = trials_of(noisy)
    steady = single_run(passing=3)
    client = login(viewer)

    (group,) = client.get("/leaderboard/?format=json").json()["groups"]
    rows = {row["run"]["id"]: row for row in group["runs"]}
    assert set(rows) == {noisy.pk, steady.pk}  # trials 2 and 3 are not rows of their own
    row = rows[noisy.pk]
    assert row["trials"] == {"k": 3, "runs": trials}
    assert row["pass_rate"] == pytest.approx(MEAN_PASS_RATE)
    assert (row["count"], row["passed"]) == (12, 6)  # over the three trials
    assert row["pass_rate_ci95"] == pytest.approx(list(stats.wilson_interval(2, 4)))
    assert [r["run"]["id"] for r in group["runs"]] == [steady.pk, noisy.pk]  # 0.75 > 0.5
    assert rows[steady.pk]["trials"] is None
    assert not group["verdict_counts_differ"]  # 4 verdicts per trial, as the single run
    points = {t["model_name"]: t["points"] for t in group["trends"]}["noisy"]
    assert [(p["run_id"], p["pass_rate"]) for p in points] == [
        (noisy.pk, pytest.approx(MEAN_PASS_RATE))
    ]

    page = client.get("/leaderboard/").content.decode()
    assert "mean of 3 trials" in page
    for trial in trials:
        assert f'href="/runs/{trial}/report/"' in page

    table = list(csv.DictReader(io.StringIO(client.get("/leaderboard/?format=csv").text)))
    assert [(r["run_id"], r["trials"], r["trial_run_ids"]) for r in table] == [
        (str(steady.pk), "", ""),
        (str(noisy.pk), "3", " ".join(map(str, trials))),
    ]


def test_the_model_page_lists_a_trial_group_once(login, viewer):
    noisy = register(3)
    score_table(noisy)
    trials = trials_of(noisy)
    page = login(viewer).get("/models/noisy/")
    model = page.context["model"]
    assert [row["run"].pk for row in model["rows"]] == [noisy.pk]
    (row,) = model["trend"]
    assert row["trials"] == {"k": 3, "runs": trials}
    assert row["pass_rate"] == pytest.approx(MEAN_PASS_RATE)
    html = page.content.decode()
    assert html.count("mean of 3 trials") == 2  # the trend and the runs table
    for trial in trials:
        assert f'href="/runs/{trial}/report/"' in html


def test_trial_groups_cost_no_query_on_the_leaderboard_or_the_model_page(login, viewer):
    client = login(viewer)

    def queries(url: str) -> int:
        client.get(url)  # the first view computes the runs' figures once
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    score_table(register(3))
    before = queries("/leaderboard/"), queries("/models/noisy/")
    for _ in range(2):  # two more groups of three trials each
        score_table(register(3))
    assert (queries("/leaderboard/"), queries("/models/noisy/")) == before
