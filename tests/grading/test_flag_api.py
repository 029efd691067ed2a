"""POST /api/v1/grading/flags/: a case flagged for curation from a disagreement, by anyone who
may grade, through the same function as the disagreements page (cases.curation.flag_case)."""

import pytest
from django.test import Client

from accounts.models import AuditEvent
from cases.models import CaseFlag
from tests.grading.test_api import api

FLAGS = "/api/v1/grading/flags/"


def post(client: Client, body: dict):
    return client.post(FLAGS, body, content_type="application/json")


def test_a_grader_flags_a_case_and_it_waits_in_the_review_queue(
    graded_run, graders, curator, login, django_assert_max_num_queries
):
    alice = graders[0]
    client = api(alice)
    case = graded_run.responses[1].test_case
    with django_assert_max_num_queries(9):  # token, permissions, the case, the flag, its audit
        answer = post(client, {"case": case.pk, "comment": "  rubric unclear  "})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    flag = CaseFlag.objects.get()
    assert body["id"] == flag.pk and body["case"] == case.pk and body["flagged_by"] == "alice"
    assert (flag.case, flag.flagged_by, flag.comment, flag.source) == (
        case,
        alice,
        "rubric unclear",
        "grading",
    )
    assert AuditEvent.objects.filter(action="case.flag", target_id=str(case.pk)).exists()
    queue = login(curator).get("/cases/review/").content.decode()
    assert "Flagged for curation" in queue and "rubric unclear" in queue


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("viewer", 403), ("curator", 201), ("engineer", 201), ("admin_user", 201)],
)
def test_who_may_flag(request, graded_run, persona, expected):
    user = request.getfixturevalue(persona)
    answer = post(api(user), {"case": graded_run.responses[0].test_case_id, "comment": "x"})
    assert answer.status_code == expected
    assert CaseFlag.objects.exists() == (expected == 201)


def test_anonymous_is_refused(graded_run):
    answer = post(Client(), {"case": graded_run.responses[0].test_case_id, "comment": "x"})
    assert answer.status_code == 401 and not CaseFlag.objects.exists()


def test_bad_flags_name_every_field(graded_run, graders):
    client = api(graders[0])
    missing = post(client, {})
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"case", "comment"}
    blank = post(client, {"case": graded_run.responses[0].test_case_id, "comment": "   "})
    assert blank.status_code == 400 and "comment" in blank.json()["errors"]
    unknown = post(client, {"case": 2**62, "comment": "wrong answer"})
    assert unknown.status_code == 404
    wrong_type = post(client, {"case": "one", "comment": ["a"]})
    assert wrong_type.status_code == 400
    assert set(wrong_type.json()["errors"]) == {"case", "comment"}
    number = post(client, {"case": graded_run.responses[0].test_case_id, "comment": 0})
    assert number.status_code == 400 and "comment" in number.json()["errors"]  # a string only
    assert not CaseFlag.objects.exists()
