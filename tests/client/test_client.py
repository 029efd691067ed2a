"""Every client method against a live server and the real worker: pagination to the end,
push by external id and by case id (a DataFrame too), scoring with wait=True, report, compare,
the gate, versions, and errors carrying the API's detail and errors."""

import pandas as pd
import pytest
from mleval_client import Client, MlevalError

from accounts.models import ApiToken
from tests.client.conftest import LABELS, case_rows
from versions.freezing import freeze

pytestmark = pytest.mark.worker


def test_every_method(connect, admin_user, run_worker):
    client = connect(admin_user)
    created = client.cases.create(case_rows(250, "client"))
    assert len(created) == 250
    listed = list(client.cases.list(category="client", page_size=100))  # three pages
    assert sorted(case["id"] for case in listed) == sorted(case["id"] for case in created)
    assert client.cases.get(created[3])["external_id"] == "c-3"
    picked = [created[5]["id"], created[9]["id"]]
    assert [c["id"] for c in client.cases.list(ids=picked, is_verified=True, sort="id")] == picked
    frame = pd.DataFrame(case_rows(2, "frame", prefix="f"))
    assert [case["external_id"] for case in client.cases.create(frame)] == ["f-0", "f-1"]

    run_a = client.runs.create("model", "1", "nlp", selection={"category": "client"})
    assert run_a["total_cases"] == 250
    right = [
        {"external_id": f"c-{i}", "output_data": {"label": LABELS[i % 2]}, "latency_ms": 1.5}
        for i in range(250)
    ]
    pushed = client.runs.push(run_a, right, chunk_size=100)  # three requests
    assert (pushed["imported"], pushed["created"]) == (250, 250)
    assert pushed["run"]["status"] == "completed"

    run_b = client.runs.create("model", "2", "nlp", selection={"category": "client"})
    by_id = {case["external_id"]: case["id"] for case in listed}
    wrong_first_60 = pd.DataFrame(
        [
            {
                "test_case_id": by_id[f"c-{i}"],
                "output_data": {"label": LABELS[(i + (i < 60)) % 2]},
                "latency_ms": 2.0,
            }
            for i in range(250)
        ]
    )
    assert client.runs.push(run_b, wrong_first_60)["imported"] == 250
    responses = list(client.runs.responses(run_b))
    assert len(responses) == 250 and {r["latency_ms"] for r in responses} == {2.0}
    assert {run["id"] for run in client.runs.list(model_name="model")} >= {
        run_a["id"],
        run_b["id"],
    }

    run_worker()
    for run in (run_a, run_b):
        state = client.runs.evaluate(run, ["label_match"], progress=False, timeout=120)
        assert state["status"] == "completed"
    report = client.runs.report(run_b, fresh=True)
    assert report["evaluators"]["label_match"]["pass_rate"] == pytest.approx(190 / 250)
    assert client.runs.get(run_b)["status"] == "completed"

    comparison = client.compare(run_a, run_b)
    assert comparison["evaluators"]["label_match"]["regressions"] == 60
    regressions = list(client.compare_cases(run_a, run_b, change="regression", page_size=25))
    assert len(regressions) == 60 and {row["change"] for row in regressions} == {"regression"}
    verdict = client.gate("latest:model", run_b)
    assert verdict["exit_code"] == 1 and verdict["baseline"]["id"] == run_a["id"]
    assert "label_match / overall" in verdict["summary"]
    assert client.runs.mark_baseline(run_a)["is_baseline"] is True
    assert client.runs.baseline(run_b)["baseline"]["id"] == run_a["id"]
    assert client.gate("baseline", run_b)["baseline"]["id"] == run_a["id"]

    version = freeze("v-client", selection={"category": "client"})
    assert "v-client" in [item["name"] for item in client.versions.list()]
    assert client.versions.get("v-client")["id"] == version.pk
    assert client.versions.get(version.pk)["name"] == "v-client"
    frozen = list(client.versions.cases("v-client"))
    assert sorted(case["id"] for case in frozen) == sorted(by_id.values())


def test_errors_carry_detail_and_errors(connect, engineer, viewer, live_server):
    client = connect(engineer)
    with pytest.raises(MlevalError) as error:
        client.runs.create("model", "1", "")
    assert error.value.status == 400 and "model_type" in error.value.errors

    with pytest.raises(MlevalError) as error:
        client.runs.get(10**9)
    assert error.value.status == 404 and error.value.detail

    client_admin_cases = connect(viewer)
    with pytest.raises(MlevalError) as error:
        client_admin_cases.cases.create(case_rows(1, "nope"))
    assert error.value.status == 403

    with pytest.raises(MlevalError) as error:
        list(Client(live_server.url, "not-a-token").cases.list())
    assert error.value.status == 401

    with pytest.raises(MlevalError, match="NaN"):
        client.runs.push(1, [{"test_case_id": 1, "output_data": float("nan")}])

    with pytest.raises(MlevalError) as error:
        Client("http://127.0.0.1:9").runs.get(1)  # nothing listens on the discard port
    assert error.value.status is None


def test_push_names_the_line_and_field_of_an_unknown_external_id(connect, admin_user):
    client = connect(admin_user)
    client.cases.create(case_rows(3, "ext", prefix="e"))
    run = client.runs.create("model", "1", "nlp", selection={"category": "ext"})
    rows = [{"external_id": "e-0", "output_data": {"label": "positive"}}]
    rows.append({"external_id": "missing", "output_data": {"label": "positive"}})
    with pytest.raises(MlevalError) as error:
        client.runs.push(run, rows)
    assert error.value.status == 409  # well-formed lines naming a case there is not
    assert any("missing" in m for m in error.value.errors["2.external_id"])


def test_client_reads_the_environment(monkeypatch, live_server, viewer):
    _, raw = ApiToken.objects.issue(viewer, "env")
    monkeypatch.setenv("MLEVAL_URL", live_server.url)
    monkeypatch.setenv("MLEVAL_TOKEN", raw)
    with Client() as client:
        assert list(client.runs.list()) == []  # authenticated: a 401 would raise
    monkeypatch.delenv("MLEVAL_URL")
    with pytest.raises(MlevalError, match="MLEVAL_URL"):
        Client()


def test_versions_are_frozen_and_diffed_through_the_client(connect, curator, viewer):
    client = connect(curator)
    created = client.cases.create(case_rows(3, "frozen", prefix="v"))
    first = client.versions.create("v-1", selection={"category": "frozen"}, description="three")
    assert (first["name"], first["case_count"], first["created_by"]) == ("v-1", 3, "curator")

    client.cases.create(case_rows(1, "frozen", prefix="w"))
    second = client.versions.create("v-2", selection={"category": "frozen"})
    diff = client.versions.diff("v-1", second)  # by name and by dict
    assert diff["counts"] == {"added": 1, "removed": 0, "changed": 0, "unchanged": 3}
    assert diff["added"] != [] and set(diff["added"]).isdisjoint(c["id"] for c in created)
    assert client.versions.diff(first["id"], second["id"])["b"]["id"] == second["id"]

    with pytest.raises(MlevalError) as taken:
        client.versions.create("v-1", selection={"category": "frozen"})
    assert taken.value.status == 409 and "name" in taken.value.errors
    with pytest.raises(MlevalError) as empty:
        client.versions.create("v-3", selection={"category": "nothing here"})
    assert empty.value.status == 409
    with pytest.raises(MlevalError) as bad:
        client.versions.create("v-4", selection={"is_verified": "maybe"})
    assert bad.value.status == 400 and "selection.is_verified" in bad.value.errors
    with pytest.raises(MlevalError) as refused:
        connect(viewer).versions.create("v-5")
    assert refused.value.status == 403
