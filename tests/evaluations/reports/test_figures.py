"""A run's figures have one home (evaluations.reports.figures): the report, the leaderboard
and the run page's panel show what it computes, checked against numpy on known rows."""

import numpy as np
import pytest
from django.urls import reverse

from evaluations import stats
from evaluations.reports import build_leaderboard, build_run_report, run_figures
from evaluations.reports.figures import response_figures, verdict_figures

LATENCIES = [12, 40, 41, 55, 90, 300, None]  # one call without a latency
SCORES = [1.0, 0.9, 0.2, 0.75, 0.0, 0.6, 0.5]


@pytest.fixture
def scored(build):
    run = build.run("clf", "1.0", config={"selection": {"scope": "golden"}})
    for i, (latency, score) in enumerate(zip(LATENCIES, SCORES, strict=True)):
        case = build.case({"label": "a"}, category=f"c{i % 2}")
        response = build.respond(run, case, {}, latency_ms=latency, tokens_used=10 + i)
        build.verdict(response, "token_f1", score)
    return run


def test_run_figures_against_numpy(scored, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        figures = run_figures(scored)
    measured = [v for v in LATENCIES if v is not None]
    latency = figures["latency_ms"]
    assert latency["count"] == 6 and latency["max"] == 300
    assert latency["mean"] == pytest.approx(np.mean(measured))
    for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert latency[key] == pytest.approx(np.percentile(measured, q))  # linear, as PG's
    assert figures["tokens"] == {"total": sum(range(10, 17)), "mean": pytest.approx(13.0)}
    assert figures["responses"] == 7 and figures["errors"] == 0
    passed = sum(score >= 0.5 for score in SCORES)  # 5 of 7
    assert figures["evaluators"] == {
        "token_f1": {
            "count": 7,
            "passed": passed,
            "pass_rate": pytest.approx(5 / 7),
            "pass_rate_ci95": pytest.approx(list(stats.wilson_interval(5, 7))),
            "mean_score": pytest.approx(np.mean(SCORES)),
        }
    }


def test_report_leaderboard_and_panel_read_the_same_figures(scored, login, viewer):
    figures = run_figures(scored)
    entry = figures["evaluators"]["token_f1"]
    report = build_run_report(scored)
    assert {k: v for k, v in report["evaluators"]["token_f1"].items() if k != "histogram"} == entry
    assert {k: v for k, v in report["latency_ms"].items() if k != "histogram"} == (
        figures["latency_ms"]
    )
    assert report["tokens"] == figures["tokens"]
    (row,) = build_leaderboard()["groups"][0]["runs"]
    assert (
        row["pass_rate"] == entry["pass_rate"] and row["pass_rate_ci95"] == entry["pass_rate_ci95"]
    )
    assert row["latency_p95"] == figures["latency_ms"]["p95"]
    assert row["tokens_total"] == figures["tokens"]["total"]
    url = reverse("evaluations:run-evaluation-progress", args=[scored.pk])
    panel = login(viewer).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert '<td class="n">71%</td>' in panel  # 5 of 7, the same pass rate


def test_many_runs_in_two_queries_and_runs_without_rows(build, django_assert_max_num_queries):
    runs = [build.run() for _ in range(3)]
    for n, run in enumerate(runs[:2], start=1):
        for _ in range(n):
            response = build.respond(run, build.case({"label": "a"}), {}, latency_ms=10 * n)
            build.verdict(response, "label_match", 1.0)
    ids = [run.pk for run in runs]
    with django_assert_max_num_queries(2):
        served, verdicts = response_figures(ids), verdict_figures(ids)
    assert [served[pk]["responses"] for pk in ids] == [1, 2, 0]
    assert [served[pk]["latency_ms"]["p95"] for pk in ids] == [10.0, 20.0, None]
    assert served[ids[2]]["tokens"] == {"total": None, "mean": None}  # unknown, not 0
    assert [verdicts[pk]["evaluators"].get("label_match", {}).get("count") for pk in ids] == [
        1,
        2,
        None,
    ]
    with django_assert_max_num_queries(0):
        assert response_figures([]) == {} and verdict_figures([]) == {}
