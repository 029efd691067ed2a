"""/api/v1/grading/: tasks, a grader's assignments, grading once, and who may do what."""

import pytest
from django.test import Client

from accounts.models import ApiToken
from grading.models import Assignment, GradingTask


def api(user) -> Client:
    _, raw = ApiToken.objects.issue(user, "tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_an_engineer_creates_a_task(graded_run, graders, engineer):
    answer = api(engineer).post(
        "/api/v1/grading/tasks/",
        {
            "run": graded_run.run.pk,
            "name": "API task",
            "graders": ["alice", "bob"],
            "overlap": 2,
            "n": 6,
            "evaluator": "llm_judge",
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["items"] == 6 and body["grades"] == {"given": 0, "expected": 12}
    again = api(engineer).post(
        "/api/v1/grading/tasks/",
        {"run": graded_run.run.pk, "name": "again", "graders": ["alice"], "overlap": 1, "n": 100},
        content_type="application/json",
    )
    assert again.status_code == 201 and again.json()["items"] == 6  # the six left
    empty = api(engineer).post(
        "/api/v1/grading/tasks/",
        {"run": graded_run.run.pk, "name": "none left", "graders": ["alice"], "overlap": 1},
        content_type="application/json",
    )
    assert empty.status_code == 409


def test_bad_task_requests_name_their_fields(graded_run, graders, engineer, viewer):
    answer = api(engineer).post(
        "/api/v1/grading/tasks/",
        {"run": graded_run.run.pk, "name": "", "graders": ["alice", "nobody"], "overlap": 0},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert {"name", "overlap"} <= set(answer.json()["errors"])
    unknown = api(engineer).post(
        "/api/v1/grading/tasks/",
        {"run": graded_run.run.pk, "name": "x", "graders": ["alice", "nobody"], "overlap": 1},
        content_type="application/json",
    )
    assert unknown.status_code == 404 and "nobody" in str(unknown.json()["errors"]["graders"])
    refused = api(engineer).post(
        "/api/v1/grading/tasks/",
        {"run": graded_run.run.pk, "name": "x", "graders": ["viewer"], "overlap": 1},
        content_type="application/json",
    )
    assert refused.status_code == 409 and "viewer" in str(refused.json()["errors"]["graders"])
    assert (
        api(viewer).post("/api/v1/grading/tasks/", {}, content_type="application/json").status_code
        == 403
    )
    assert not GradingTask.objects.exists()


def test_grading_once_through_the_api(task, graders):
    alice = graders[0]
    client = api(alice)
    mine = client.get(f"/api/v1/grading/tasks/{task.pk}/assignments/").json()["results"]
    assert len(mine) == 8 and all(a["verdicts"] is None and a["grade"] is None for a in mine)
    first = mine[0]
    assert first["response"]["output_data"]["text"].startswith("reply")
    url = f"/api/v1/grading/assignments/{first['id']}/grade/"
    answer = client.post(
        url, {"passed": True, "score": None, "comment": "ok"}, content_type="application/json"
    )
    assert answer.status_code == 201
    assert [v["evaluator"] for v in answer.json()["verdicts"]] == ["llm_judge"]
    twice = client.post(url, {"passed": False}, content_type="application/json")
    assert twice.status_code == 409
    assert Assignment.objects.get(pk=first["id"]).passed is True
    corrected = client.patch(url, {"passed": False}, content_type="application/json")
    assert corrected.status_code == 200 and corrected.json()["grade"]["passed"] is False
    listed = client.get(f"/api/v1/grading/tasks/{task.pk}/assignments/").json()["results"]
    assert listed[0]["verdicts"] is not None and listed[1]["verdicts"] is None


def test_someone_elses_assignment_and_bad_grades(task, graders, viewer):
    alice, bob, _ = graders
    theirs = Assignment.objects.filter(item__task=task, grader=bob).first()
    url = f"/api/v1/grading/assignments/{theirs.pk}/grade/"
    assert (
        api(alice).post(url, {"passed": True}, content_type="application/json").status_code == 403
    )
    assert (
        api(viewer).post(url, {"passed": True}, content_type="application/json").status_code == 403
    )
    bad = api(bob).post(url, {"passed": "maybe", "score": 3}, content_type="application/json")
    assert bad.status_code == 400 and "passed" in bad.json()["errors"]
    scored = api(bob).post(url, {"passed": True, "score": 3}, content_type="application/json")
    assert scored.status_code == 409 and "score" in scored.json()["errors"]  # pass/fail task
    assert (
        api(bob)
        .post(
            "/api/v1/grading/assignments/999999/grade/",
            {"passed": True},
            content_type="application/json",
        )
        .status_code
        == 404
    )


@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
def test_every_role_reads_tasks(persona, request, task, django_assert_max_num_queries):
    client = api(request.getfixturevalue(persona))
    with django_assert_max_num_queries(8):
        listing = client.get("/api/v1/grading/tasks/")
    assert listing.status_code == 200 and listing.json()["results"][0]["name"] == "Helpfulness"
    detail = client.get(f"/api/v1/grading/tasks/{task.pk}/").json()
    assert {g["grader"] for g in detail["graders"]} == {"alice", "bob", "carol"}


def test_outsiders_read_nothing(task, outsider):
    assert api(outsider).get("/api/v1/grading/tasks/").status_code == 403


def test_agreement_in_the_api(task, graders, viewer):
    from grading.verdicts import record_grade

    rows = Assignment.objects.filter(item__task=task).select_related("item__response")
    for assignment in rows:  # people say the opposite of the judge every time
        judge = assignment.item.response.evaluations.get(evaluator_type="llm_judge")
        record_grade(assignment, passed=not judge.passed)
    detail = api(viewer).get(f"/api/v1/grading/tasks/{task.pk}/").json()
    graders_figures = detail["agreement"]["graders"]
    assert graders_figures["alpha"] == 1.0 and graders_figures["n"] == 12
    assert len(graders_figures["pairs"]) == 3
    judge = detail["agreement"]["evaluators"]["llm_judge"]
    assert judge["n"] == 12 and judge["kappa"] == -1.0 and judge["accuracy"] == 0.0
    body = api(viewer).get("/api/v1/grading/evaluators/llm_judge/").json()
    assert body["pooled"]["n"] == 12 and body["trust"]["status"] == "unmeasured"  # n < 30
    assert list(body["runs"]) == [str(task.run_id)]
    none = api(viewer).get("/api/v1/grading/evaluators/nothing/").json()
    assert none["pooled"] is None and none["runs"] == {}


def test_raising_the_overlap_through_the_api(task, graders, make_user, engineer, viewer):
    from accounts.roles import GRADER

    make_user(GRADER, "dave")
    url = f"/api/v1/grading/tasks/{task.pk}/graders/"
    body = {"graders": ["alice", "bob", "carol", "dave"], "overlap": 3}
    assert api(viewer).post(url, body, content_type="application/json").status_code == 403
    answer = api(engineer).post(url, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["added"] == 12
    assert answer.json()["overlap"] == 3 and answer.json()["grades"]["expected"] == 36
    lower = api(engineer).post(url, {**body, "overlap": 2}, content_type="application/json")
    assert lower.status_code == 409 and "overlap" in lower.json()["errors"]
    unknown = api(engineer).post(
        url, {"graders": ["zed"], "overlap": 3}, content_type="application/json"
    )
    assert unknown.status_code == 404
