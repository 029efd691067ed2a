"""/api/v1/runs/<id>/baseline/ and /api/v1/lineage/: the model page's baseline and lineage."""

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AuditEvent
from runs.lineage import ModelVersion
from runs.models import ModelRun


def make_run(model_version: str, **fields) -> ModelRun:
    fields.setdefault("status", ModelRun.Status.COMPLETED)
    return ModelRun.objects.create(
        model_name="bert", model_version=model_version, model_type="nlp", cases_hash="h", **fields
    )


@pytest.mark.django_db
def test_mark_read_and_unmark_a_baseline(login, viewer, engineer, admin_user):
    first, second = make_run("1"), make_run("2")
    url = f"/api/v1/runs/{second.pk}/baseline/"
    assert login(viewer).post(url).status_code == 403
    assert login(engineer).post(url).status_code == 403
    admin = login(admin_user)
    assert admin.post(f"/api/v1/runs/{first.pk}/baseline/").json()["replaced"] is None
    body = admin.post(url).json()
    assert body["is_baseline"] and body["replaced"] == first.pk and body["baseline"] is None
    # The replaced run's mark is gone: a 404 that names the run that is the baseline.
    read = login(viewer).get(f"/api/v1/runs/{first.pk}/baseline/")
    assert read.status_code == 404 and read.json()["baseline"]["id"] == second.pk
    assert f"run {second.pk} is its model's baseline" in read.json()["detail"]
    current = login(viewer).get(url)
    assert current.status_code == 200 and current.json()["is_baseline"] is True
    assert AuditEvent.objects.filter(action="run.baseline", detail__via="api").count() == 2
    # DELETE removes the mark (204), and then it is gone: GET and DELETE answer 404.
    assert admin.delete(url).status_code == 204
    assert not ModelRun.objects.filter(baseline_since__isnull=False).exists()
    gone = admin.get(url)
    assert gone.status_code == 404 and gone.json()["baseline"] is None
    assert admin.delete(url).status_code == 404
    assert AuditEvent.objects.filter(action="run.unbaseline", detail__via="api").count() == 1
    running = make_run("3", status=ModelRun.Status.RUNNING)
    refused = admin.post(f"/api/v1/runs/{running.pk}/baseline/")
    assert (
        refused.status_code == 409 and "only a completed run" in refused.json()["errors"]["run"][0]
    )
    assert admin.post("/api/v1/runs/999999/baseline/").status_code == 404
    engineer.user_permissions.add(Permission.objects.get(codename="mark_baseline"))
    assert login(engineer).post(url).status_code == 200  # a lead


@pytest.mark.django_db
def test_lineage_read_and_record(login, viewer, engineer):
    body = {"model_name": "bert", "model_version": "2", "kind": "distilled",
            "parent": {"model_name": "bert", "model_version": "1"}}  # fmt: skip
    assert (
        login(viewer).post("/api/v1/lineage/", body, content_type="application/json").status_code
        == 403
    )
    client = login(engineer)
    answer = client.post("/api/v1/lineage/", body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["parent"]["model_version"] == "1"
    cycle = {**body, "model_version": "1", "parent": {"model_name": "bert", "model_version": "2"}}
    refused = client.post("/api/v1/lineage/", cycle, content_type="application/json")
    assert refused.status_code == 409 and "cycle" in refused.json()["errors"]["parent"][0]
    bad_kind = client.post(
        "/api/v1/lineage/", {**body, "kind": "x"}, content_type="application/json"
    )
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["errors"]
    no_kind = {**body, "model_version": "3"}
    del no_kind["kind"]
    answer = client.post("/api/v1/lineage/", no_kind, content_type="application/json")
    assert answer.json()["kind"] == "derived"
    family = login(viewer).get("/api/v1/lineage/?model_name=bert").json()
    assert {(r["model_version"], (r["parent"] or {}).get("model_version")) for r in family} == {
        ("1", None),
        ("2", "1"),
        ("3", "1"),
    }
    assert login(viewer).get("/api/v1/lineage/").status_code == 400
    assert ModelVersion.objects.count() == 3
