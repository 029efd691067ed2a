"""The comparison's per-case list in keyset pages (evaluations.reports.comparison_pages): every
row once in case order, filters, a bounded window per page, two queries at any size; the
compare page's fragment and GET /api/v1/compare/cases/ on top of it."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from evaluations.reports import comparison_case_page, comparison_cases, comparison_pages
from mleval_site.pagination import BadCursor, encode_cursor

# case key -> (passed in A or None when absent, passed in B or None)
PAIRS = {
    1: (True, None),  # only in A
    2: (True, True),
    3: (True, False),  # regression
    4: (False, True),  # improvement
    5: (True, True),
    6: (True, False),  # regression
    7: (False, False),
    8: (None, False),  # only in B
    9: (True, False),  # regression
}


def _build_pairs(build, run_a, run_b, pairs):
    cases = {}
    for key, (in_a, in_b) in pairs.items():
        cases[key] = case = build.case({"label": "a"})
        for run, passed in ((run_a, in_a), (run_b, in_b)):
            if passed is not None:
                response = build.respond(run, case, {})
                build.verdict(response, "label_match", float(passed), passed)
                build.verdict(response, "token_f1", 0.9 if passed else 0.1)
    return cases


@pytest.fixture
def runs(build):
    run_a, run_b = build.run("m", "1.0"), build.run("m", "2.0")
    return run_a, run_b, _build_pairs(build, run_a, run_b, PAIRS)


def _walk(run_a, run_b, **filters):
    """Every page from the first, following next_cursor: (rows, pages)."""
    rows, pages, cursor = [], [], None
    while True:
        page = comparison_case_page(run_a, run_b, after=cursor, **filters)
        rows += page.rows
        pages.append(page)
        if page.next_cursor is None:
            return rows, pages
        cursor = page.next_cursor


def _key(row):
    return row["test_case_id"], row["evaluator"]


@pytest.mark.parametrize("window, limit", [(3, 2), (2, 5), (100, 4), (1, 1)])
def test_paging_walks_every_row_once_in_case_order(runs, monkeypatch, window, limit):
    run_a, run_b, _ = runs
    monkeypatch.setattr(comparison_pages, "SCAN_WINDOW", window)
    rows, pages = _walk(run_a, run_b, limit=limit)
    everything = comparison_cases(run_a, run_b)
    assert len(everything) == 18
    assert [_key(row) for row in rows] == sorted(_key(row) for row in everything)
    by_key = {_key(row): row for row in everything}
    assert all(row == by_key[_key(row)] for row in rows)  # the same pairs and changes
    assert all(len(page.rows) <= limit for page in pages)


def test_change_and_evaluator_filters(runs, monkeypatch):
    run_a, run_b, cases = runs
    ids = {case.pk: key for key, case in cases.items()}
    page = comparison_case_page(run_a, run_b, change="regression", evaluator="token_f1")
    assert [ids[row["test_case_id"]] for row in page.rows] == [3, 6, 9]
    assert {row["evaluator"] for row in page.rows} == {"token_f1"}
    assert page.next_cursor is None and page.scanned_through is None
    for change, keys in [("improvement", [4]), ("only_in_a", [1]), ("only_in_b", [8]),
                         ("both_failed", [7]), ("both_passed", [2, 5])]:  # fmt: skip
        rows, _ = _walk(run_a, run_b, change=change, evaluator="label_match")
        assert [ids[row["test_case_id"]] for row in rows] == keys
        assert {row["change"] for row in rows} == {change}
    # A small window: a rare kind comes in short pages that say how far they looked.
    monkeypatch.setattr(comparison_pages, "SCAN_WINDOW", 2)
    rows, pages = _walk(run_a, run_b, change="regression", evaluator="label_match", limit=10)
    assert [ids[row["test_case_id"]] for row in rows] == [3, 6, 9]
    assert pages[0].rows == [] and pages[0].scanned_through == cases[2].pk
    assert pages[-1].scanned_through is None
    with pytest.raises(ValueError, match="unknown change"):
        comparison_case_page(run_a, run_b, change="worse")


def test_a_cursor_it_did_not_make_is_refused(runs):
    run_a, run_b, _ = runs
    for cursor in ("nonsense", encode_cursor(["x", "label_match"]), encode_cursor([1])):
        with pytest.raises(BadCursor):
            comparison_case_page(run_a, run_b, after=cursor)


def test_two_queries_a_page_as_the_runs_grow(runs, build, django_assert_num_queries):
    run_a, run_b, cases = runs
    for extra in range(2):
        with django_assert_num_queries(2):
            first = comparison_case_page(run_a, run_b, limit=4)
        with django_assert_num_queries(2):
            comparison_case_page(run_a, run_b, after=first.next_cursor, limit=4)
        more = {100 + i: (i % 2 == 0, i % 3 == 0) for i in range(40 * (extra + 1))}
        _build_pairs(build, run_a, run_b, more)


def test_the_pages_read_a_bounded_window_of_the_index(runs):
    """EXPLAIN of a page: both runs' responses are read by an index range scan, the upper
    bound included (an OR there would walk the run to its end)."""
    run_a, run_b, _ = runs
    params = {
        "a": run_a.pk,
        "b": run_b.pk,
        **comparison_pages.version_params(run_a, run_b),
        "low": 1,
        "high": 5,
        "after_case": 0,
        "after_evaluator": "",
        "evaluator": None,
        "change": None,
        "limit": 10,
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + comparison_pages._PAGE_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conditions = [line for line in plan.splitlines() if "Index Cond: ((run_id = " in line]
    assert len(conditions) == 2  # one range scan per run, both bounds in it
    assert all("test_case_id >= 1" in c and "test_case_id <= '5'" in c for c in conditions)


def test_page_fragment_pages_with_cursors(runs, monkeypatch, viewer, login):
    run_a, run_b, cases = runs
    monkeypatch.setattr(comparison_pages, "SCAN_WINDOW", 2)
    client = login(viewer)
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "compare-cases"}
    query = {"a": run_a.pk, "b": run_b.pk, "change": "regression", "evaluator": "label_match"}
    html = client.get("/runs/compare/", query, **htmx).content.decode()
    assert f"rows up to case #{cases[2].pk}" in html and "Next →" in html
    assert "« First" not in html
    cursor = encode_cursor([cases[2].pk, None])
    html = client.get("/runs/compare/", {**query, "after": cursor}, **htmx).content.decode()
    assert f'href="/cases/{cases[3].pk}/"' in html and "« First" in html
    # A link it did not make: the first page, not an error.
    response = client.get("/runs/compare/", {**query, "after": "nonsense"}, **htmx)
    assert response.status_code == 200 and "« First" not in response.content.decode()


def test_api_pages_with_next_links(runs, viewer):
    run_a, run_b, cases = runs
    _, token = ApiToken.objects.issue(viewer, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/compare/cases/?a={run_a.pk}&b={run_b.pk}&evaluator=label_match&page_size=4"
    seen = []
    while url:
        body = api.get(url).json()
        seen += body["results"]
        url = body["next"]
    assert [row["test_case_id"] for row in seen] == [case.pk for case in cases.values()]
    assert seen[2] == {
        "test_case_id": cases[3].pk,
        "evaluator": "label_match",
        "change": "regression",
        "a_passed": True,
        "b_passed": False,
        "a_score": 1.0,
        "b_score": 0.0,
    }
    query = {"a": run_a.pk, "b": run_b.pk}
    response = api.get("/api/v1/compare/cases/", {**query, "after": "nonsense", "change": "x"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"change"}
    response = api.get("/api/v1/compare/cases/", {**query, "after": "nonsense"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"after"}
    response = api.get("/api/v1/compare/cases/", {**query, "page_size": 0})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"page_size"}
    assert api.get("/api/v1/compare/cases/", {"a": run_a.pk, "b": 999999}).status_code == 404


def test_fragment_queries_stay_flat_as_the_runs_grow(runs, build, viewer, login):
    run_a, run_b, _ = runs
    client = login(viewer)
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "compare-cases"}
    counts = []
    for grow in (0, 60):
        _build_pairs(build, run_a, run_b, {200 + i: (i % 2 == 0, True) for i in range(grow)})
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/runs/compare/", {"a": run_a.pk, "b": run_b.pk}, **htmx)
            assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 10
