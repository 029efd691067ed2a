"""An update racing a delete never brings the row back (issue 14).

Each test makes the race happen every time instead of 3 times in 30: the main thread holds the
row's lock (SELECT ... FOR UPDATE) while a real request in another thread reads the row and
blocks in its UPDATE; the main thread then deletes the row through the API and commits, and the
blocked UPDATE finds nothing. Django's plain save() would then INSERT the row again.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from cases.models import TestCase
from runs.models import ModelRun
from tests.runs.conftest import make_case

pytestmark = pytest.mark.django_db(transaction=True)


def token_client(user) -> Client:
    _, raw = ApiToken.objects.issue(user, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def deleted_while_updating(model, pk: int, update, delete):
    """Run `update()` in a thread; delete the row once that update waits on it; its answer."""
    answers = []

    def updating() -> None:
        try:
            answers.append(update())
        finally:
            connection.close()

    with transaction.atomic():
        model.objects.select_for_update().get(pk=pk)
        thread = threading.Thread(target=updating)
        thread.start()
        deadline = time.monotonic() + 20
        while not waiting_for_a_lock():
            assert thread.is_alive() and time.monotonic() < deadline, "the update never blocked"
            time.sleep(0.02)
        assert delete().status_code == 204
    thread.join(30)
    return answers[0]


def test_a_deleted_case_never_comes_back_from_an_api_patch(curator):
    case = make_case()
    client = token_client(curator)
    answer = deleted_while_updating(
        TestCase,
        case.pk,
        lambda: client.patch(
            f"/api/v1/cases/{case.pk}/", {"category": "late"}, content_type="application/json"
        ),
        lambda: client.delete(f"/api/v1/cases/{case.pk}/"),
    )
    assert answer.status_code == 404, answer.content
    assert "deleted while you were changing it" in answer.json()["detail"]
    assert not TestCase.objects.filter(pk=case.pk).exists()
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["case.delete"]


def test_a_deleted_case_never_comes_back_from_the_edit_page(curator, login):
    case = make_case()
    page = login(curator)
    fields = {
        "model_type": "nlp",
        "category": "late",
        "input_type": "text",
        "input_format": "",
        "input_data": '{"text": "x"}',
        "output_type": "classification",
        "ground_truth": '{"label": "positive"}',
        "tags": "",
        "difficulty": "medium",
        "origin": "human",
        "is_verified": "true",
        "metadata": "{}",
    }
    answer = deleted_while_updating(
        TestCase,
        case.pk,
        lambda: page.post(f"/cases/{case.pk}/edit/", fields),
        lambda: token_client(curator).delete(f"/api/v1/cases/{case.pk}/"),
    )
    assert answer.status_code == 404
    assert not TestCase.objects.filter(pk=case.pk).exists()
    assert not AuditEvent.objects.filter(action="case.update").exists()


def test_a_deleted_case_never_comes_back_from_the_admin(admin_user, login, curator):
    case = make_case(category="before")
    page = login(admin_user)
    url = f"/admin/cases/testcase/{case.pk}/change/"
    fields = {
        "model_type": "nlp",
        "category": "late",
        "input_type": "text",
        "input_format": "",
        "output_type": "classification",
        "input_data": '{"text": "x"}',
        "ground_truth": '{"label": "positive"}',
        "tags": "",
        "difficulty": "medium",
        "origin": "human",
        "is_verified": "on",
        "metadata": "{}",
        "created_by": "",
        "_save": "Save",
    }
    assert page.get(url).status_code == 200
    answer = deleted_while_updating(
        TestCase,
        case.pk,
        lambda: page.post(url, fields),
        lambda: token_client(curator).delete(f"/api/v1/cases/{case.pk}/"),
    )
    assert answer.status_code == 404, answer.content[:300]
    assert not TestCase.objects.filter(pk=case.pk).exists()


def test_a_deleted_run_patched_at_once_is_a_404_not_a_500(engineer, golden_run):
    client = token_client(engineer)
    answer = deleted_while_updating(
        ModelRun,
        golden_run.pk,
        lambda: client.patch(
            f"/api/v1/runs/{golden_run.pk}/",
            {"model_version": "2"},
            content_type="application/json",
        ),
        lambda: client.delete(f"/api/v1/runs/{golden_run.pk}/"),
    )
    assert answer.status_code == 404, answer.content
    assert not ModelRun.objects.exists()


def test_every_save_path_refuses_to_insert_a_deleted_row(golden_run):
    """The model rule itself (the admin, forms and serializers all save through it)."""
    case = make_case()
    TestCase.objects.filter(pk=case.pk).delete()
    case.category = "late"
    with pytest.raises(TestCase.NotUpdated):
        case.save()
    assert not TestCase.objects.filter(pk=case.pk).exists()
    ModelRun.objects.filter(pk=golden_run.pk).delete()
    golden_run.model_version = "2"
    with pytest.raises(ModelRun.NotUpdated):
        golden_run.save()
    assert not ModelRun.objects.exists()
    fresh = make_case()  # a new row is still inserted, and an edit of a stored one saved
    fresh.category = "edited"
    fresh.save()
    assert TestCase.objects.get(pk=fresh.pk).category == "edited"


@pytest.fixture
def golden_run(db):
    from runs.selection import register_run

    make_case()
    return register_run(model_name="m", model_version="1", model_type="nlp")
