"""GET /api/v1/grading/tasks/<id>/verdicts/: each grader's human verdict and the panel's."""

from grading.models import Assignment
from grading.verdicts import record_grade
from tests.grading.test_api import api


def url(task, **query) -> str:
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/grading/tasks/{task.pk}/verdicts/" + (f"?{tail}" if tail else "")


def test_each_graders_verdict_and_the_panels(task, viewer, django_assert_max_num_queries):
    first = task.items.get(position=1)
    for assignment in Assignment.objects.filter(item=first).select_related("grader"):
        record_grade(assignment, passed=assignment.grader.username == "alice", comment="why")
    with django_assert_max_num_queries(8):  # token, permissions, the task, items, verdicts
        body = api(viewer).get(url(task)).json()
    assert len(body["results"]) == 12 and body["next"] is None
    graded, ungraded = body["results"][0], body["results"][1]
    assert graded["position"] == 1 and graded["response"] == first.response_id
    names = sorted(a.grader.username for a in first.assignments.select_related("grader"))
    assert [g["grader"] for g in graded["graders"]] == names
    assert {g["grader"]: g["passed"] for g in graded["graders"]} == {
        name: name == "alice" for name in names
    }
    assert all(g["feedback"] == "why" for g in graded["graders"])
    panel = graded["panel"]
    assert "grader" not in panel and panel["passed"] is False  # a tie (1-1) is a fail
    assert ungraded["panel"] is None and ungraded["graders"] == []


def test_pages_after_a_position_and_bad_input(task, viewer):
    client = api(viewer)
    later = client.get(url(task, after=10)).json()["results"]
    assert [item["position"] for item in later] == [11, 12]
    refused = client.get(url(task, after=-1))
    assert refused.status_code == 400 and "after" in refused.json()["errors"]
    assert client.get("/api/v1/grading/tasks/999999/verdicts/").status_code == 404


def test_next_links_walk_every_item_once(task, viewer, monkeypatch):
    monkeypatch.setattr("grading.api.VERDICTS_PAGE", 5)
    client, link, seen = api(viewer), url(task), []
    while link:
        body = client.get(link).json()
        seen += [item["position"] for item in body["results"]]
        link = body["next"]
    assert seen == list(range(1, 13))
