"""Schemathesis against the app's own OpenAPI schema, in process: no 5xx, answers match it.

Every operation gets valid and invalid generated requests (a bounded number each, so the suite
stays fast), sent through Django's WSGI app as an admin's Bearer token, with a few rows in the
database so ids hit real objects.
"""

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from model_bakery import baker
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from cases.models import TestCase

MAX_EXAMPLES = 15  # per operation and generation mode (valid and invalid data)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def admin_token(admin_user) -> str:
    return ApiToken.objects.issue(admin_user, "schemathesis")[1]


def openapi_document() -> dict:
    """The schema exactly as /api/schema/?format=json renders it (no request or database needed)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


def test_the_served_schema_is_the_one_tested(admin_token):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {admin_token}").get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json() == openapi_document()


def test_schema_and_docs_need_a_login(db):
    assert Client().get("/api/schema/").status_code == 401
    response = Client().get("/api/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_docs_are_served_locally_without_inline_script(viewer, login):
    client = login(viewer)
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    assert '<script src="/api/docs/?script' in page.replace("&amp;", "&")
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.fixture
def in_test_transaction():
    """Keep the test's connection (and its transaction) across WSGI requests, as Django's
    test client does: the app would otherwise close it at the start and end of each one."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def some_rows(db, curator):
    for i in range(3):
        baker.make(
            TestCase,
            input_data={"text": f"case {i}"},
            input_type="text",
            ground_truth={"label": "a"},
            output_type="classification",
            created_by=curator if i else None,
        )


@schemathesis.serializer("application/x-ndjson")
def ndjson_body(ctx, value) -> bytes:
    """NDJSON bodies: a generated string as is (lone surrogates too), anything else as JSON."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES)
schema.app = WSGIHandler()


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, admin_token, some_rows, in_test_transaction):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=CHECKS)
