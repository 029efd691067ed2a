"""The failing verdicts, keyset-paged worst first: the API (GET /api/v1/runs/<id>/failing/), its
pages against the query, its query count flat in the run's size. The plan at a million
responses (the worst-first index walked, no sort) is bench_reports' check."""

import pytest

from evaluations import summaries
from evaluations.reports import failing_evaluations

URL = "/api/v1/runs/{}/failing/"


def fill(build, run, n: int):
    for i in range(n):
        truth = "ab"[i % 2]
        case = build.case({"label": truth}, category=f"c{i % 3}", tags=[f"t{i % 4}"])
        response = build.respond(run, case, {"label": truth if i % 4 == 0 else "ab"[(i + 1) % 2]})
        build.judge(response, "label_match")
        build.judge(response, "fuzzy_ratio")
    return run


def walk(client, url: str) -> tuple[list[dict], list[dict]]:
    """Every result following `next`, and each page's body."""
    results, pages = [], []
    while url:
        body = client.get(url).json()
        pages.append(body)
        results += body["results"]
        url = body["next"]
    return results, pages


def test_pages_list_every_failing_verdict_once_worst_first(build, viewer, login):
    run = fill(build, build.run(), 30)
    summaries.run_report(run)  # summarized: the unfiltered count needs no query
    client = login(viewer)
    expected = list(failing_evaluations(run).values_list("id", "score"))
    assert [score for _, score in expected] == sorted(score for _, score in expected)
    results, pages = walk(client, URL.format(run.pk) + "?page_size=7")
    assert [(r["id"], r["score"]) for r in results] == expected
    assert pages[0]["count"] == len(expected) and not pages[0]["count_is_estimate"]
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    back = client.get(pages[-1]["previous"]).json()  # the page before the last
    assert back["results"] == pages[-2]["results"]

    only = URL.format(run.pk) + "?evaluator=fuzzy_ratio&category=c1&tag=t1&page_size=2"
    filtered, _ = walk(client, only)
    assert [r["id"] for r in filtered] == list(
        failing_evaluations(run, "fuzzy_ratio", category="c1", tag="t1").values_list(
            "id", flat=True
        )
    )
    assert filtered and {r["evaluator_type"] for r in filtered} == {"fuzzy_ratio"}


def test_refusals(build, viewer, outsider, login):
    run = fill(build, build.run(), 2)
    client = login(viewer)
    assert client.get(URL.format(run.pk) + "?after=not-a-cursor").status_code == 400
    assert "page_size" in client.get(URL.format(run.pk) + "?page_size=0").json()["errors"]
    assert "tag" in client.get(URL.format(run.pk) + "?tag=" + "x" * 101).json()["errors"]
    assert client.get(URL.format(999_999)).status_code == 404
    assert login(outsider).get(URL.format(run.pk)).status_code == 403


@pytest.mark.parametrize("size", [5, 40])
def test_a_page_costs_the_same_queries_whatever_the_runs_size(
    size, build, viewer, login, django_assert_max_num_queries
):
    run = fill(build, build.run(), size)
    summaries.run_report(run)
    client = login(viewer)
    # Session, user, permissions, the run, its summary (the count), the page: never per row.
    with django_assert_max_num_queries(7):
        first = client.get(URL.format(run.pk) + "?page_size=3").json()
    with django_assert_max_num_queries(8):  # filtered: the planner's estimate, then the count
        client.get(first["next"] + "&evaluator=label_match")


def test_a_link_is_the_same_position_with_or_without_the_evaluator_filter(build, viewer, login):
    """The CLI's find: an unfiltered page's link (score, id) sent with ?evaluator= was a 400
    ("wrong length": the filtered list's links held the evaluator too)."""
    run = fill(build, build.run(), 12)
    client = login(viewer)
    everything = list(failing_evaluations(run).values_list("id", "score", "evaluator_type"))
    first = client.get(URL.format(run.pk) + "?page_size=5").json()
    last_id, last_score, _ = everything[4]
    filtered = client.get(first["next"] + "&evaluator=fuzzy_ratio")
    assert filtered.status_code == 200
    assert [r["id"] for r in filtered.json()["results"]] == [
        pk
        for pk, score, name in everything
        if name == "fuzzy_ratio" and (score, pk) > (last_score, last_id)
    ][:5]  # the link keeps page_size=5
    # And the filtered list's links hold no evaluator: they work unfiltered too.
    link = client.get(URL.format(run.pk) + "?evaluator=fuzzy_ratio&page_size=2").json()["next"]
    assert "evaluator=fuzzy_ratio" in link
    unfiltered = client.get(link.replace("evaluator=fuzzy_ratio", "evaluator="))
    assert unfiltered.status_code == 200 and unfiltered.json()["results"]
