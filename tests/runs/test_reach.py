"""MLEVAL_ENDPOINT_ALLOWED_HOSTS: endpoints outside it are refused at registration and at
connect time (a real local model server that must never see the call)."""

import asyncio
import io
import ipaddress

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import ApiToken
from runs import reach
from runs.callers import ExecutionError, ExecutionOptions, http_transport
from runs.execution import execute_run
from runs.models import ModelRun, Response
from runs.selection import register_run

FAST = ExecutionOptions(concurrency=2, timeout=5, retries=0, backoff=0.01)


def allow(settings, *entries: str) -> None:
    settings.MLEVAL_ENDPOINT_ALLOWED_HOSTS = list(entries)


def register(url: str) -> ModelRun:
    return register_run(model_name="m", model_version="1", model_type="nlp", model_endpoint=url)


class TestPolicy:
    @pytest.mark.parametrize(
        ("address", "public"),
        [
            ("8.8.8.8", True),
            ("2001:4860:4860::8888", True),
            ("127.0.0.1", False),
            ("10.1.2.3", False),
            ("192.168.0.1", False),
            ("169.254.169.254", False),  # cloud metadata
            ("::1", False),
            ("::ffff:127.0.0.1", False),  # loopback spelled as IPv6
            ("0.0.0.0", False),
            ("224.0.0.1", False),
        ],
    )
    def test_public_means_globally_routable(self, settings, address, public):
        allow(settings, "public")
        assert reach.address_allowed(ipaddress.ip_address(address)) is public

    def test_networks_names_and_domains(self, settings):
        allow(settings, "10.20.0.0/16", "models.internal", ".gpu.example.com")
        assert reach.address_allowed(ipaddress.ip_address("10.20.9.9"))
        assert not reach.address_allowed(ipaddress.ip_address("10.21.0.1"))
        assert reach.name_allowed("models.internal") and reach.name_allowed("a.gpu.example.com")
        assert not reach.name_allowed("gpu.example.com.evil.org")
        reach.check_endpoint_url("http://10.20.0.5:8000/predict")
        reach.check_endpoint_url("https://MODELS.internal/predict")  # listed: never resolved
        with pytest.raises(reach.EndpointRefused, match="MLEVAL_ENDPOINT_ALLOWED_HOSTS"):
            reach.check_endpoint_url("http://10.21.0.5/predict")

    def test_a_bad_network_is_a_configuration_error(self, settings):
        allow(settings, "10.0.0.0/33")
        with pytest.raises(ImproperlyConfigured, match="10.0.0.0/33"):
            reach.policy()

    def test_a_name_is_judged_by_every_address_it_resolves_to(self, settings):
        allow(settings, "public")
        with pytest.raises(reach.EndpointRefused, match=r"localhost \((127\.0\.0\.1|::1)\)"):
            reach.check_endpoint_url("http://localhost:8000/predict")
        allow(settings, "127.0.0.0/8", "::1")
        reach.check_endpoint_url("http://localhost:8000/predict")


class TestRegistration:
    """The page, the API and create_run register through the model's rules: all refuse."""

    def test_register_run(self, settings, golden):
        allow(settings, "public")
        with pytest.raises(ValidationError) as caught:
            register("http://127.0.0.1:9/predict")
        assert "MLEVAL_ENDPOINT_ALLOWED_HOSTS" in caught.value.message_dict["model_endpoint"][0]
        assert not ModelRun.objects.exists()
        register("python:runs.demo_models:sentiment_classifier")  # in-process: not a host

    def test_the_page(self, settings, login, engineer, golden):
        allow(settings, "public")
        fields = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
        page = login(engineer).post(
            "/runs/new/", {**fields, "model_endpoint": "http://169.254.169.254/latest/"}
        )
        assert page.status_code == 200 and b"MLEVAL_ENDPOINT_ALLOWED_HOSTS" in page.content
        assert not ModelRun.objects.exists()

    def test_the_api_on_create_and_update(self, settings, engineer, golden):
        _, token = ApiToken.objects.issue(engineer, "tests")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        run = client.post(
            "/api/v1/runs/",
            {"model_name": "m", "model_version": "1", "model_type": "nlp"},
            content_type="application/json",
        ).json()
        allow(settings, "public")
        body = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
        answer = client.post(
            "/api/v1/runs/",
            {**body, "model_endpoint": "http://127.0.0.1:5432/"},
            content_type="application/json",
        )
        assert answer.status_code == 400
        assert "MLEVAL_ENDPOINT_ALLOWED_HOSTS" in answer.json()["errors"]["model_endpoint"][0]
        answer = client.patch(
            f"/api/v1/runs/{run['id']}/",
            {"model_endpoint": "http://[::1]:8000/"},
            content_type="application/json",
        )
        assert answer.status_code == 400 and "model_endpoint" in answer.json()["errors"]
        assert ModelRun.objects.get().model_endpoint == ""

    def test_create_run(self, settings, golden):
        allow(settings, "public")
        with pytest.raises(CommandError, match="MLEVAL_ENDPOINT_ALLOWED_HOSTS"):
            call_command(
                "create_run",
                "--model-name=m",
                "--model-version=1",
                "--model-type=nlp",
                "--endpoint=http://10.0.0.1/predict",
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        assert not ModelRun.objects.exists()


class TestCallTime:
    def test_a_run_registered_before_the_list_changed_is_refused_before_any_call(
        self, settings, golden, model_server
    ):
        run = register(model_server.url)
        allow(settings, "public")
        with pytest.raises(ExecutionError, match="MLEVAL_ENDPOINT_ALLOWED_HOSTS"):
            execute_run(run, FAST)
        assert model_server.total_calls == 0 and not Response.objects.exists()

    def test_every_connection_is_checked_on_the_address_it_connects_to(
        self, settings, model_server
    ):
        """The transport every caller uses: a refused address never gets a connection."""

        async def post(url: str) -> int:
            async with httpx.AsyncClient(transport=http_transport()) as client:
                reply = await client.post(url, json={"test_case_id": 1})
                return reply.status_code

        allow(settings, "public")
        with pytest.raises(reach.EndpointRefused, match="127.0.0.1"):
            asyncio.run(post(model_server.url))
        url = model_server.url.replace("127.0.0.1", "localhost")
        with pytest.raises(reach.EndpointRefused, match="localhost"):
            asyncio.run(post(url))
        assert model_server.total_calls == 0
        allow(settings, "127.0.0.1/32")
        assert asyncio.run(post(model_server.url)) == 200
        assert model_server.total_calls == 1

    def test_a_refused_connection_is_the_case_s_failure_without_retries(
        self, settings, golden, model_server, monkeypatch
    ):
        """Passing registration (the name is resolved then) but refused when connecting."""
        run = register(model_server.url)
        monkeypatch.setattr("runs.callers.check_reachable", lambda url: None)
        allow(settings, "public")
        summary = execute_run(run, ExecutionOptions(concurrency=2, timeout=5, retries=3))
        assert summary.failed_cases == 8 and model_server.total_calls == 0
        message = Response.objects.first().error_message
        assert "MLEVAL_ENDPOINT_ALLOWED_HOSTS" in message and "attempts" not in message


def test_a_url_that_does_not_parse_is_refused_not_a_500(db, engineer, login):
    """Found by the schemathesis CLI (admin, seed 3): "kserve-v2:http://[" raised ValueError."""
    from runs.reach import EndpointRefused, check_endpoint_url

    with pytest.raises(EndpointRefused, match="not valid"):
        check_endpoint_url("http://[")
    body = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
    body["model_endpoint"] = "kserve-v2:http://["
    response = login(engineer).post("/api/v1/runs/", body, content_type="application/json")
    assert response.status_code == 400 and "model_endpoint" in response.json()["errors"]
