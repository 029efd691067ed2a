"""Schemathesis against the app's own OpenAPI schema, in process, with every check.

Every operation gets valid and invalid generated requests (a bounded number each, derandomized
so a run is repeatable, so the suite stays fast), sent through Django's WSGI app with the real
test database, as an admin's and as a viewer's Bearer token, with a few rows in the database so
ids hit real objects. Every check must pass: no 5xx, answers as documented, and the schema
neither allows what the validators refuse nor forbids what they accept.
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

from accounts.models import ApiToken
from cases.models import TestCase
from tests.api import schemathesis_hooks  # noqa: F401  (valid page cursors)

# Operations whose schema does not yet say all that their validator checks (each names what is
# missing): left out of the run until it does. Every other operation must pass every check.
KNOWN_GAPS: dict[str, str] = {}
MAX_EXAMPLES = 3  # per operation and generation mode (valid and invalid data), as the admin
VIEWER_EXAMPLES = 2  # the same, as a viewer
# The operations whose refusals the schemathesis CLI found bending (a run's endpoint, each
# evaluator's params, response lines naming cases, the failing verdicts' links): more valid
# generated requests each, as the admin.
FOCUSED = r"^/api/v1/runs/(\{id\}/|\{run_id\}/(evaluate|responses|failing)/)?$"
FOCUSED_EXAMPLES = 25


@pytest.fixture
def admin_token(admin_user) -> str:
    return ApiToken.objects.issue(admin_user, "schemathesis")[1]


@pytest.fixture
def viewer_token(viewer) -> str:
    return ApiToken.objects.issue(viewer, "schemathesis")[1]


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


def schema_under_test(max_examples: int, phases: list[str], modes=("positive", "negative")):
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.config.generation.update(modes=list(modes), max_examples=max_examples)
    schema.config.phases.update(phases=phases)
    schema.config.checks.update(included_check_names=["all"])
    schema.app = WSGIHandler()
    for path in KNOWN_GAPS:
        schema = schema.exclude(path_regex=f"^{path}")
    return schema


# The admin reaches every validator: the coverage phase (edge values of every parameter and
# property: empty, null, bounds, wrong types) and generated cases. The viewer is refused every
# write (403, documented) and reads what the admin reads: a few generated cases suffice.
admin_schema = schema_under_test(MAX_EXAMPLES, ["examples", "coverage", "fuzzing"])
viewer_schema = schema_under_test(VIEWER_EXAMPLES, ["fuzzing"])
focused_schema = schema_under_test(FOCUSED_EXAMPLES, ["fuzzing"], ["positive"]).include(
    path_regex=FOCUSED, method=["POST", "PATCH", "GET"]
)
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@admin_schema.parametrize()
@SETTINGS
def test_api_conforms_to_its_schema(case, admin_token, some_rows, in_test_transaction):
    call_and_validate(case, admin_token)


@viewer_schema.parametrize()
@SETTINGS
def test_api_conforms_for_a_viewer(case, viewer_token, some_rows, in_test_transaction):
    call_and_validate(case, viewer_token)


@focused_schema.parametrize()
@SETTINGS
def test_valid_requests_are_accepted_where_data_decides(
    case, admin_token, some_rows, in_test_transaction
):
    call_and_validate(case, admin_token)


def call_and_validate(case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
