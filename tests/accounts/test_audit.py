"""The audit trail: recorded with its actor, shown to admins only, filterable."""

import pytest

from accounts.audit import record
from accounts.models import AuditEvent


@pytest.fixture
def events(curator, engineer):
    record(curator, "cases.verify", "testcase", count=12, filter={"tags": "en"})
    record(engineer, "run.execute", "modelrun", target_id=7, concurrency=8)
    record(None, "cases.import", "testcase", count=1000)


@pytest.mark.django_db
def test_record_keeps_the_actor_name_after_the_user_is_gone(events, curator):
    curator.delete()
    event = AuditEvent.objects.get(action="cases.verify")
    assert event.actor is None and event.actor_name == "curator"
    assert event.count == 12 and event.detail == {"filter": {"tags": "en"}}


@pytest.mark.django_db
def test_admin_reads_and_filters_the_trail(
    events, admin_user, login, django_assert_max_num_queries
):
    client = login(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get("/audit/", {"action": "run."})
    assert response.status_code == 200
    assert list(response.context["object_list"].values_list("action", flat=True)) == ["run.execute"]
    assert client.get("/audit/", {"actor": "curator"}).context["object_list"].count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "outsider"])
def test_other_roles_cannot_read_the_trail(persona, request, login):
    assert login(request.getfixturevalue(persona)).get("/audit/").status_code == 403


@pytest.mark.django_db
def test_audit_rows_are_read_only_in_the_admin(events, admin_user, login):
    client = login(admin_user)
    event = AuditEvent.objects.first()
    assert client.get("/admin/accounts/auditevent/").status_code == 200
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    response = client.post(f"/admin/accounts/auditevent/{event.pk}/change/", {"action": "x"})
    assert response.status_code == 403
