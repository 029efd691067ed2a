"""Saved connections: managed by engineers (page, admin, API), tested with one real request,
copied into a run at registration (function, page dropdown, command, API)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from runs.callers import ExecutionOptions
from runs.connections import Connection, probe_connection
from runs.execution import execute_run
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests.connectors.openai_server import Reply, completion


@pytest.fixture
def saved(db, openai_server):
    return Connection.objects.create(
        name="local-chat",
        kind="openai",
        base_url=openai_server.base_url,
        headers={"Authorization": "Bearer ${MLEVAL_CONN_KEY}"},
        model="llama3",
        params={"temperature": 0},
        rate_limit="6000/minute",
        input_price_per_million="0.5000",
    )


def test_a_run_from_a_connection_copies_its_settings(saved, cases, openai_server, monkeypatch):
    run = register_run(
        model_name="m",
        model_version="1",
        model_type="nlp",
        model_endpoint="connection:local-chat",
        config={"params": {"temperature": 1}, "output": "label"},
    )
    assert run.model_endpoint == f"openai:{openai_server.base_url}"
    assert run.config == {
        "model": "llama3",
        "params": {"temperature": 1},  # the run's own keys win
        "rate_limit": "6000/minute",
        "headers": {"Authorization": "Bearer ${MLEVAL_CONN_KEY}"},
        "output": "label",
        "connection": "local-chat",
        "selection": run.config["selection"],
    }
    saved.model = "changed-later"
    saved.save()
    monkeypatch.setenv("MLEVAL_CONN_KEY", "k")
    execute_run(run, ExecutionOptions(concurrency=2))
    assert {r.json()["model"] for r in openai_server.chat_requests()} == {"llama3"}
    assert Response.objects.filter(run=run, error_message="").count() == len(cases)


def test_an_unknown_connection_is_refused_at_registration(cases):
    with pytest.raises(ValidationError, match="no saved connection named nope"):
        register_run(
            model_name="m", model_version="1", model_type="nlp", model_endpoint="connection:nope"
        )
    assert not ModelRun.objects.exists()


def test_the_command_and_the_api_take_connection_endpoints(saved, cases, engineer, login):
    call_command(
        "create_run",
        "--model-name=m",
        "--model-version=1",
        "--model-type=nlp",
        "--endpoint=connection:local-chat",
    )
    answer = login(engineer).post(
        "/api/v1/runs/",
        json.dumps(
            {
                "model_name": "m",
                "model_version": "2",
                "model_type": "nlp",
                "model_endpoint": "connection:local-chat",
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["config"]["connection"] == "local-chat"
    assert set(ModelRun.objects.values_list("model_endpoint", flat=True)) == {saved.endpoint}


def test_the_run_form_offers_connections_in_a_dropdown(saved, cases, engineer, login):
    client = login(engineer)
    page = client.get("/runs/new/")
    assert b'<option value="local-chat">local-chat</option>' in page.content
    answer = client.post(
        "/runs/new/",
        {
            "model_name": "m",
            "model_version": "1",
            "model_type": "nlp",
            "connection": "local-chat",
            "config": '{"output": "json"}',
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    run = ModelRun.objects.get()
    assert run.model_endpoint == saved.endpoint
    assert (run.config["output"], run.config["model"]) == ("json", "llama3")
    both = client.post(
        "/runs/new/",
        {
            "model_name": "m",
            "model_version": "2",
            "model_type": "nlp",
            "connection": "local-chat",
            "model_endpoint": "http://127.0.0.1:9/",
            "config": "{}",
        },
    )
    assert b"Choose a saved connection or an endpoint, not both." in both.content


def test_engineers_manage_connections_on_the_page(db, engineer, viewer, login, openai_server):
    client = login(engineer)
    form = {
        "name": "chat",
        "kind": "openai",
        "base_url": openai_server.base_url,
        "headers": '{"Authorization": "Bearer sk-literal"}',
        "params": "{}",
    }
    refused = client.post("/connections/new/", form)
    assert b"Authorization carries a credential" in refused.content
    form["headers"] = '{"Authorization": "Bearer ${KEY}"}'
    form["rate_limit"] = "often"
    assert b"rate_limit: write N/second" in client.post("/connections/new/", form).content
    form["rate_limit"] = "10/second"
    assert client.post("/connections/new/", form).status_code == 302
    connection = Connection.objects.get()
    assert connection.headers == {"Authorization": "Bearer ${KEY}"}
    assert b"chat" in client.get("/connections/").content
    assert b"Connections</a>" in client.get("/connections/").content  # in the menu
    form["model"] = "qwen"
    assert client.post(f"/connections/{connection.pk}/", form).status_code == 302
    connection.refresh_from_db()
    assert connection.model == "qwen"
    reader = login(viewer)
    assert reader.get("/connections/").status_code == 200
    assert reader.post("/connections/new/", form).status_code == 403
    assert reader.post(f"/connections/{connection.pk}/test/").status_code == 403
    assert client.post(f"/connections/{connection.pk}/delete/").status_code == 302
    assert not Connection.objects.exists()


def test_the_test_button_sends_one_real_request(saved, engineer, login, openai_server, monkeypatch):
    monkeypatch.setenv("MLEVAL_CONN_KEY", "sk-test-value-123")
    openai_server.behaviour = lambda request: Reply(body=completion("OK"), delay=0.05)
    page = login(engineer).post(f"/connections/{saved.pk}/test/", headers={"HX-Request": "true"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "OK" in html and "HTTP 200" in html and " ms" in html
    assert "sk-test-value-123" not in html
    [request] = openai_server.chat_requests()
    assert request.headers["authorization"] == "Bearer sk-test-value-123"
    assert request.json()["model"] == "llama3"
    result = probe_connection(saved)
    assert result.ok and result.latency_ms >= 50 and result.reply.startswith('{"text": "OK"}')


def test_the_test_names_a_missing_variable_and_a_failing_server(saved, openai_server):
    result = probe_connection(saved)
    assert not result.ok and "${MLEVAL_CONN_KEY}" in result.problem


def test_the_api_manages_connections(db, engineer, viewer, login, openai_server, monkeypatch):
    client = login(engineer)
    body = {
        "name": "api-chat",
        "kind": "openai",
        "base_url": openai_server.base_url,
        "headers": {"X-Api-Key": "plain"},
    }
    refused = client.post("/api/v1/connections/", body, content_type="application/json")
    assert refused.status_code == 400
    assert "X-Api-Key carries a credential" in refused.json()["errors"]["headers"][0]
    body["headers"] = {"X-Api-Key": "${MLEVAL_API_CONN}"}
    created = client.post("/api/v1/connections/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["endpoint"] == f"openai:{openai_server.base_url}"
    patched = client.patch(
        f"/api/v1/connections/{pk}/", {"batch_size": 0}, content_type="application/json"
    )
    assert patched.status_code == 400
    monkeypatch.setenv("MLEVAL_API_CONN", "x")
    tested = client.post(f"/api/v1/connections/{pk}/test/")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert login(viewer).get("/api/v1/connections/").json()[0]["name"] == "api-chat"
    assert login(viewer).post(f"/api/v1/connections/{pk}/test/").status_code == 403
    assert client.delete(f"/api/v1/connections/{pk}/").status_code == 204


def test_a_registered_run_cannot_be_patched_onto_a_connection(saved, cases, engineer, login):
    run = register_run(model_name="m", model_version="1", model_type="nlp")
    answer = login(engineer).patch(
        f"/api/v1/runs/{run.pk}/",
        {"model_endpoint": "connection:local-chat"},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "register a new run" in answer.json()["errors"]["model_endpoint"][0]


def test_the_test_of_a_batching_kind_is_its_health_get(db, openai_server):
    kserve = Connection.objects.create(
        name="kserve", kind="kserve-v2", base_url=f"{openai_server.base_url}/v2/models/iris"
    )
    result = probe_connection(kserve)
    assert (result.ok, result.status, result.problem) == (False, 404, "HTTP 404")
    assert "no route GET /v1/v2/models/iris/ready" in result.reply
    mlflow = Connection.objects.create(
        name="mlflow", kind="mlflow", base_url=openai_server.base_url
    )
    assert "GET /v1/ping" in probe_connection(mlflow).reply
    assert openai_server.chat_requests() == []


def test_the_test_of_a_kserve_url_of_the_wrong_shape_says_so(db):
    """Found by schemathesis against a live server: the probe raised (a 500 from the API)."""
    wrong = Connection.objects.create(name="k", kind="kserve-v2", base_url="http://localhost:9/b")
    result = probe_connection(wrong)
    assert not result.ok and "/v2/models/<name>" in result.problem


def test_header_values_are_printable_ascii_when_saved_and_when_filled_in(
    saved, engineer, login, monkeypatch
):
    """Found by the schemathesis CLI: a saved header value with "ă" made the test button's
    request raise (UnicodeEncodeError, a 500 from the API)."""
    client = login(engineer)
    refused = client.patch(
        f"/api/v1/connections/{saved.pk}/",
        {"headers": {"X-Team": "équipe"}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "printable ASCII" in refused.json()["errors"]["headers"][0]

    monkeypatch.setenv("MLEVAL_CONN_KEY", "clé")  # filled in at call time: cannot be sent
    tested = client.post(f"/api/v1/connections/{saved.pk}/test/")
    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert "header Authorization is not one line of printable ASCII" in tested.json()["problem"]
    assert "clé" not in tested.content.decode()  # the value is never shown

    Connection.objects.filter(pk=saved.pk).update(headers={"X-Team": "ăb"})  # saved before
    saved.refresh_from_db()
    result = probe_connection(saved)
    assert not result.ok and "header X-Team" in result.problem
