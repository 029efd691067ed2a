"""Report pages per persona, their exports, htmx fragments and bounded query counts."""

import csv
import html
import io
import json
import re

import pytest
from django.urls import reverse

from evaluations import stats
from evaluations.reports import (
    build_leaderboard,
    build_run_report,
    compare_runs,
    failing_evaluations,
)

# A page's own queries plus the session, user and permission look-ups of the request: 11 for
# the first view of a run report (it computes and stores the run's summary), up to 17 when the
# run's selection has drifted (the runs app counts how); 7 for a report served from its
# current summary, whatever the run's size. Human grading adds up to five: the report's
# agreement and graders blocks when the summary is computed, and the trust of its evaluators
# (a fingerprint of the graded runs, then the figures when they are not cached), read once for
# the report's JSON `trust` block and once more (the fingerprint only) by the trust marks.
REPORT_PAGE_MAX_QUERIES = 20
# The comparison adds one query: both runs' outputs and the expected answers of its case page.
COMPARE_PAGE_MAX_QUERIES = REPORT_PAGE_MAX_QUERIES + 1
FIRST_REPORT_MAX_QUERIES = 16
SERVED_REPORT_MAX_QUERIES = 8


def fill_run(build, run, n, correct_every=2, category_count=3):
    for i in range(n):
        truth = "ab"[i % 2]
        case = build.case({"label": truth}, category=f"c{i % category_count}", tags=[f"t{i % 4}"])
        predicted = truth if i % correct_every == 0 else "ab"[(i + 1) % 2]
        response = build.respond(run, case, {"label": predicted}, latency_ms=10 + i)
        build.judge(response, "label_match")
    return run


@pytest.fixture
def run(build):
    return fill_run(build, build.run("clf", "1.0"), 12)


def report_url(run, **query):
    url = reverse("evaluations:run-report", args=[run.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
def test_every_role_reads_the_report_pages(persona, run, login, request):
    client = login(request.getfixturevalue(persona))
    assert client.get(report_url(run)).status_code == 200
    assert client.get(reverse("evaluations:compare") + f"?a={run.pk}&b={run.pk}").status_code == 200
    assert client.get(reverse("evaluations:leaderboard")).status_code == 200


def test_outsider_is_refused_and_anonymous_sent_to_login(run, outsider, login, client):
    urls = [
        report_url(run),
        reverse("evaluations:compare"),
        reverse("evaluations:leaderboard"),
        reverse("evaluations:case-history", args=[run.responses.first().test_case_id]),
    ]
    refused = login(outsider)
    for url in urls:
        assert refused.get(url).status_code == 403
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_report_page_shows_the_figures(run, viewer, login):
    html = login(viewer).get(report_url(run)).content.decode()
    assert "clf 1.0" in html
    assert "label_match" in html
    assert "50.0%" in html  # pass rate: every other prediction right
    assert 'id="classification"' in html
    assert "<svg" in html and "Confusion matrix" in html
    assert "Score histogram" in html and "Latency distribution" in html
    assert "Pass rate by category" in html
    assert "?format=json" in html and "?format=csv" in html
    # The failing cases load into the page with htmx, from the fragment at the page's URL.
    assert f'id="failing" hx-get="{report_url(run)}" hx-trigger="load"' in html
    fragment = (
        login(viewer)
        .get(report_url(run), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="failing")
        .content.decode()
    )
    assert "failing verdicts" in fragment and "<h1>" not in fragment


def test_report_page_query_count_is_bounded(build, viewer, login, django_assert_max_num_queries):
    from runs.selection import register_run

    client = login(viewer)
    small = fill_run(build, build.run("m", "1"), 4)
    large = fill_run(build, build.run("m", "2"), 60, category_count=7)
    for run in (small, large):
        with django_assert_max_num_queries(FIRST_REPORT_MAX_QUERIES):
            assert client.get(report_url(run)).status_code == 200
        with django_assert_max_num_queries(SERVED_REPORT_MAX_QUERIES):
            html = client.get(report_url(run)).content.decode()
        assert 'id="summary-state"' not in html  # current: no "updating…"
    drifted = register_run(model_name="m", model_version="3", model_type="nlp")
    for response in large.responses.select_related("test_case"):
        build.judge(build.respond(drifted, response.test_case, {"label": "a"}, latency_ms=9), "iou")
    build.case({"label": "a"})  # joins the golden set after the run was registered
    with django_assert_max_num_queries(REPORT_PAGE_MAX_QUERIES):
        html = client.get(report_url(drifted)).content.decode()
    assert 'id="drift-warning"' in html
    with django_assert_max_num_queries(10):  # the failing-cases fragment alone
        client.get(report_url(large, page=2), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="failing")


def test_empty_run_renders(build, viewer, login):
    empty = build.run("nothing", "0")
    client = login(viewer)
    response = client.get(report_url(empty))
    assert response.status_code == 200
    assert "No verdicts yet" in response.content.decode()
    assert json.loads(client.get(report_url(empty, format="json")).content)["evaluators"] == {}
    assert client.get(report_url(empty, format="csv")).status_code == 200
    other = fill_run(build, build.run("x", "1"), 2)
    compare = client.get(reverse("evaluations:compare") + f"?a={empty.pk}&b={other.pk}")
    assert compare.status_code == 200


def test_report_json_and_csv_downloads_render_the_report(run, viewer, login):
    client = login(viewer)
    response = client.get(report_url(run, format="json"))
    assert response["Content-Type"] == "application/json"
    assert f'filename="run-{run.pk}-report.json"' in response["Content-Disposition"]
    served = json.loads(response.content)
    assert served.pop("summary")["state"] == "fresh"
    assert served == json.loads(json.dumps(build_run_report(run)))
    response = client.get(report_url(run, format="csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == ["section", "evaluator", "dimension", "item", "metric", "value"]
    pass_rate = [r for r in rows if r["section"] == "evaluator" and r["metric"] == "pass_rate"]
    assert pass_rate == [
        {
            "section": "evaluator",
            "evaluator": "label_match",
            "dimension": "",
            "item": "",
            "metric": "pass_rate",
            "value": "0.5",
        }
    ]
    matrix = [r for r in rows if r["section"] == "confusion_matrix"]
    assert len(matrix) == 4


def test_unknown_format_is_a_clear_400(run, viewer, login):
    response = login(viewer).get(report_url(run, format="<b>xml</b>"))
    assert response.status_code == 400
    assert b"format=json or format=csv" in response.content
    assert response["Content-Type"].startswith("text/plain")  # the input is echoed, not HTML


def test_failing_cases_fragment_filters_and_pages(build, viewer, login):
    run = fill_run(build, build.run("m", "1"), 80, correct_every=4)  # 60 failing
    client = login(viewer)
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "failing"}
    fragment = client.get(report_url(run), **htmx).content.decode()
    assert "<h1>" not in fragment  # the fragment alone
    assert "60 failing verdicts" in fragment
    filtered = client.get(report_url(run, category="c1", evaluator="label_match"), **htmx)
    assert "20 failing verdicts matching the filter" in filtered.content.decode()
    # Keyset pages, worst first: following "Next" lists every failing verdict once, in order.
    failing = list(failing_evaluations(run).values_list("response__test_case_id", flat=True))
    listed, url = [], report_url(run)
    while url:
        fragment = client.get(url, **htmx).content.decode()
        listed += [int(pk) for pk in re.findall(r'href="/cases/(\d+)/"', fragment)]
        after = re.search(
            r'href="\?([^"]*)" hx-get="[^"]*" hx-target="#failing"[^>]* rel="next"', fragment
        )
        url = report_url(run) + "?" + html.unescape(after.group(1)) if after else None
    assert listed == failing and len(listed) == 60
    last = client.get(report_url(run, last=1), **htmx).content.decode()
    assert [int(pk) for pk in re.findall(r'href="/cases/(\d+)/"', last)] == failing[-25:]
    assert 'rel="prev"' in last and 'rel="next"' not in last
    bad = client.get(report_url(run, after="not-a-cursor"), **htmx)
    assert bad.status_code == 200 and "60 failing verdicts" in bad.content.decode()
    case = run.responses.order_by("id").last().test_case
    assert (
        f'href="/cases/{case.pk}/"'
        in client.get(report_url(run, tag=case.tags[0]), **htmx).content.decode()
    )
    page = client.get(report_url(run, tag=case.tags[0])).content.decode()  # the filter kept
    assert f'hx-get="{report_url(run, tag=case.tags[0])}"' in page


def test_missing_run_is_404(viewer, login, db):
    assert login(viewer).get(reverse("evaluations:run-report", args=[999999])).status_code == 404


@pytest.fixture
def two_runs(build):
    run_a = build.run("m", "1.0", config={"selection": {"category": "c0"}})
    run_b = build.run("m", "2.0", config={"selection": {"category": "c1"}})
    for i in range(10):
        case = build.case({"label": "a"}, category=f"c{i % 2}")
        for run, right in ((run_a, True), (run_b, i % 3 != 0)):
            response = build.respond(run, case, {"label": "a" if right else "b"})
            build.judge(response, "label_match")
    return run_a, run_b


def compare_url(run_a, run_b, **query):
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return reverse("evaluations:compare") + f"?a={run_a.pk}&b={run_b.pk}{extra}"


def test_compare_page(two_runs, viewer, login, django_assert_max_num_queries):
    run_a, run_b = two_runs
    client = login(viewer)
    with django_assert_max_num_queries(COMPARE_PAGE_MAX_QUERIES):
        html = client.get(compare_url(run_a, run_b)).content.decode()
    assert 'id="selections-differ"' in html
    assert "Regressions" in html and "McNemar p" in html
    assert "Per slice" in html
    assert "Percentile bootstrap of the paired deltas, 10,000 resamples." in html
    # The case pairs load into the page with htmx, from the fragment at the page's URL: the
    # regressions, there being some.
    url = compare_url(run_a, run_b) + "&change=regression"
    assert f'id="compare-cases" hx-get="{url.replace("&", "&amp;")}"' in html
    assert '<option value="regression" selected>' in html
    html = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="compare-cases").content.decode()
    first_case_row = html.index('<tr class="')
    assert 'class="regression"' in html[first_case_row : first_case_row + 30]


def test_compare_page_names_the_normal_interval_past_the_bootstrap_limit(
    two_runs, viewer, login, monkeypatch
):
    run_a, run_b = two_runs
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_PAIRS", 5)  # 10 pairs: past it
    html = login(viewer).get(compare_url(run_a, run_b)).content.decode()
    assert "Normal approximation (too many pairs to resample quickly)." in html
    assert "Percentile bootstrap" not in html


def test_compare_cases_fragment_pages(two_runs, viewer, login):
    run_a, run_b = two_runs
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "compare-cases"}
    client = login(viewer)
    fragment = client.get(compare_url(run_a, run_b, change="regression"), **htmx).content.decode()
    assert fragment.count('<tr class="regression">') == 4
    assert "<h1>" not in fragment
    assert "Next" not in fragment


def test_compare_downloads(two_runs, viewer, login):
    run_a, run_b = two_runs
    client = login(viewer)
    response = client.get(compare_url(run_a, run_b, format="json"))
    assert json.loads(response.content) == json.loads(json.dumps(compare_runs(run_a, run_b)))
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(compare_url(run_a, run_b, format="csv")).content.decode())
        )
    )
    regressions = [r for r in rows if r["section"] == "evaluator" and r["metric"] == "regressions"]
    assert regressions[0]["value"] == "4"
    assert sum(1 for r in rows if r["section"] == "case") == 10 * 4


def test_compare_form_and_errors(two_runs, viewer, login):
    client = login(viewer)
    picker = client.get(reverse("evaluations:compare"))
    assert picker.status_code == 200
    assert "choose a run" in picker.content.decode()
    bad = client.get(reverse("evaluations:compare") + "?a=abc&b=999999")
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Run A: give a run id" in text and "there is no run #999999" in text
    assert client.get(reverse("evaluations:compare") + "?a=1&format=json").status_code == 400


def test_leaderboard_page_and_downloads(build, viewer, login, django_assert_max_num_queries):
    for version, every in (("1.0", 2), ("1.1", 3), ("2.0", 1)):
        fill_run(
            build, build.run("clf", version, config={"selection": {"scope": "golden"}}), 6, every
        )
    client = login(viewer)
    with django_assert_max_num_queries(REPORT_PAGE_MAX_QUERIES):
        html = client.get(reverse("evaluations:leaderboard")).content.decode()
    assert "scope=golden" in html
    assert html.index(">2.0<") < html.index(">1.0<") < html.index(">1.1<")  # ranked
    assert "pass rate by version" in html and "<polyline" in html
    board = json.loads(client.get(reverse("evaluations:leaderboard") + "?format=json").content)
    for group in board["groups"]:
        for row in group["runs"]:  # the figures' summary state, served from summaries
            assert row.pop("summary")["state"] == "fresh"
    assert board == json.loads(json.dumps(build_leaderboard()))
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(reverse("evaluations:leaderboard") + "?format=csv").content.decode()
            )
        )
    )
    assert [r["model_version"] for r in rows] == ["2.0", "1.0", "1.1"]
    assert rows[0]["rank"] == "1" and rows[0]["pass_rate"] == "1.0"


def test_case_history_fragment(build, viewer, login, django_assert_max_num_queries):
    case = build.case({"label": "a"})
    for version, output in (("1.0", "a"), ("2.0", "b")):
        build.judge(build.respond(build.run("clf", version), case, output), "label_match")
    client = login(viewer)
    with django_assert_max_num_queries(8):
        html = client.get(reverse("evaluations:case-history", args=[case.pk])).content.decode()
    assert "<h1>" not in html
    assert "broke since 1.0" in html
    assert html.index(">2.0<") < html.index(">1.0<")  # newest first
    assert login(viewer).get(reverse("evaluations:case-history", args=[999999])).status_code == 404


def test_compare_with_another_run_opens_the_picker_on_the_runs_domain(build, viewer, login):
    """The report's "Compare with another run…" link (?a= alone): a picker, not a 400, with
    the run preselected and only runs of its domain offered, each with version and date."""
    nlp_run, other_nlp = build.run("clf", "1.0"), build.run("clf", "2.0")
    vision = build.run("det", "1.0", model_type="computer_vision")
    client = login(viewer)
    report = client.get(reverse("evaluations:run-report", args=[nlp_run.pk])).content.decode()
    link = re.search(r'href="([^"]+)">Compare with another run', report).group(1)
    page = client.get(link.replace("&amp;", "&"))
    assert page.status_code == 200
    html = page.content.decode()
    picker_a = html[html.index('name="a"') : html.index('name="b"')]
    assert f'<option value="{nlp_run.pk}" selected>' in picker_a
    assert f'value="{other_nlp.pk}"' in picker_a and f'value="{vision.pk}"' not in html
    assert f"clf · version 2.0 · {other_nlp.created_at:%Y-%m-%d}" in html
    missing = client.get(reverse("evaluations:compare") + "?a=999999")
    assert missing.status_code == 400 and b"there is no run #999999" in missing.content


def test_a_forecast_report_speaks_of_points_not_boxes(build, viewer, login):
    run = build.run("fc")
    case = build.case({"values": [1.0, 2.0]}, output_type="forecast")
    build.judge(build.respond(run, case, {"values": [1.0, 2.5]}), "forecast_error")
    html = login(viewer).get(reverse("evaluations:run-report", args=[run.pk])).content.decode()
    assert 'id="forecast"' in html
    assert "Pooled over all points" in html and "boxes" not in html
