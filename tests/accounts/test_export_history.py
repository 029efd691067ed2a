"""Export history: every download (cases, reports, leaderboard, versions) is an audit row."""

import pytest
from django.urls import reverse
from model_bakery import baker

from accounts.models import AuditEvent
from runs.models import ModelRun
from versions import freezing


@pytest.mark.django_db
def test_downloads_are_recorded_and_listed_on_the_audit_page(login, viewer, admin_user, make_case):
    make_case()
    run = baker.make(ModelRun, model_name="bert", model_version="2", model_type="nlp")
    version = freezing.freeze("golden-1", selection={})
    client = login(viewer)
    before = AuditEvent.objects.count()

    b"".join(client.get(version.get_absolute_url() + "?format=jsonl").streaming_content)
    assert (
        client.get(reverse("evaluations:run-report", args=[run.pk]) + "?format=json").status_code
        == 200
    )
    assert client.get(reverse("evaluations:leaderboard") + "?format=csv").status_code == 200
    b"".join(client.get(reverse("cases:export") + "?format=csv").streaming_content)
    assert client.get(version.get_absolute_url() + "?format=xml").status_code == 400  # none

    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [(e.action, e.actor_name) for e in events] == [
        ("version.export", "viewer"),
        ("report.export", "viewer"),
        ("leaderboard.export", "viewer"),
        ("cases.export", "viewer"),
    ]
    assert (events[0].target_type, events[0].target_id) == ("version", str(version.pk))
    assert events[0].detail["format"] == "jsonl"
    assert events[0].detail["filename"] == f"mleval-version-{version.pk}.jsonl"
    assert (events[1].target_type, events[1].target_id) == ("modelrun", str(run.pk))

    page = login(admin_user).get(reverse("audit") + "?exports=true")
    shown = [event.action for event in page.context["object_list"]]
    assert sorted(shown) == sorted(e.action for e in events)
    assert "Export history" in page.content.decode()
