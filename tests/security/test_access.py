"""Access control over every routed URL: anonymous users, viewers, curators and engineers.

The URL list comes from the resolver (tests/security/conftest.py), so a page or endpoint added
later is checked without anyone remembering to add it here.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from cases.models import TestCase
from evaluations.models import Evaluation
from jobs.models import Job
from runs.connections import Connection
from runs.models import ModelRun, Response
from tests.security.conftest import CATCH_ALL_404, routed_urls

# Served to anyone: the two login pages (a form, nothing else) and the load balancer's probe.
PUBLIC = {"/accounts/login/", "/admin/login/", "/healthz"}
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
WRITE_METHODS = ("post", "put", "patch", "delete")


def _refused_anonymous(response, route) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)


def _counts() -> dict[str, int]:
    """Rows of every table a write could touch, to prove a refused request wrote nothing."""
    models = (TestCase, ModelRun, Response, Evaluation, Job, ApiToken, Connection)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["AuditEvent"] = AuditEvent.objects.count()
    counts["verified"] = TestCase.objects.filter(is_verified=True).count()
    counts["revoked"] = ApiToken.objects.exclude(revoked_at=None).count()
    counts["cancelled"] = ModelRun.objects.filter(status="cancelled").count()
    counts["users"] = User.objects.count()
    return counts


@pytest.mark.django_db
def test_the_walk_covers_every_app(seeded):
    paths = {route.path for route in routed_urls(seeded)}
    for expected in ("/cases/", f"/runs/{seeded['run']}/cancel/", "/leaderboard/", "/audit/",
                     f"/api/v1/runs/{seeded['run']}/responses/", "/admin/cases/testcase/",
                     f"/api/v1/tasks/{seeded['task']}/", "/accounts/tokens/new/"):  # fmt: skip
        assert expected in paths
    assert len(paths) > 100


@pytest.mark.django_db
def test_anonymous_requests_are_refused_everywhere_but_login_and_healthz(seeded):
    client = Client()
    wrong = []
    for route in routed_urls(seeded):
        for method in ("get", "post"):
            response = getattr(client, method)(route.path)
            if route.path in PUBLIC:
                ok = response.status_code in (200, 302, 405)
            elif route.path in CATCH_ALL_404:
                ok = response.status_code == 404
            else:
                ok = _refused_anonymous(response, route)
            if not ok:
                wrong.append((method.upper(), route.path, response.status_code))
    assert not wrong, wrong


@pytest.mark.django_db
def test_anonymous_gets_the_login_page_for_pages_and_401_for_the_api(seeded):
    client = Client()
    assert client.get("/cases/")["Location"] == "/accounts/login/?next=/cases/"
    response = client.get("/api/v1/cases/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/mleval.css").status_code == 200  # the login page's stylesheet


# A viewer may change nothing but their own session and API tokens (every user manages their
# own), and may ask the JSON editor's checker about a text (a read that needs POST).
VIEWER_MAY_POST = {"/accounts/login/", "/accounts/logout/", "/accounts/tokens/new/",
                   "/cases/check-json/", "/admin/login/", "/admin/logout/"}  # fmt: skip


@pytest.mark.django_db
def test_a_viewer_is_refused_every_write_on_pages_api_and_admin(seeded, viewer, login):
    client = login(viewer)
    token = ApiToken.objects.get(pk=seeded["token"])  # the admin's token: not the viewer's
    before = _counts()
    wrong = []
    for route in routed_urls(seeded):
        if route.path in VIEWER_MAY_POST or route.path in CATCH_ALL_404:
            continue
        for method in WRITE_METHODS if route.is_api else ("post",):
            response = getattr(client, method)(route.path, {}, content_type="application/json")
            refused = (
                response.status_code in (403, 405)
                or (
                    # The admin sends users without is_staff to its login page.
                    route.is_admin
                    and response.status_code == 302
                    and "/admin/login/" in response["Location"]
                )
                or (route.name == "api-token-revoke" and response.status_code == 404)
            )  # not theirs
            if not refused:
                wrong.append((method.upper(), route.path, response.status_code))
    assert not wrong, wrong
    assert _counts() == before
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
def test_a_viewer_token_is_refused_every_api_write(seeded, viewer):
    _, raw = ApiToken.objects.issue(viewer, "viewer's")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    before = _counts()
    wrong = []
    for route in routed_urls(seeded):
        if not route.path.startswith("/api/v1/"):
            continue
        for method in WRITE_METHODS:
            response = getattr(client, method)(route.path, {}, content_type="application/json")
            if response.status_code not in (403, 405):
                wrong.append((method.upper(), route.path, response.status_code))
    assert not wrong, wrong
    assert _counts() == before


def _run_writes(ids: dict) -> list[tuple[str, str, dict]]:
    run = ids["run"]
    response = [{"test_case_id": ids["case"], "output_data": {}}]
    return [
        ("post", "/runs/new/", {"model_name": "m", "model_version": "9", "model_type": "nlp"}),
        ("post", f"/runs/{run}/execute/", {"concurrency": 1, "timeout": 1, "retries": 0}),
        ("post", f"/runs/{run}/cancel/", {}),
        ("post", f"/runs/{run}/responses/import/", {}),
        ("post", f"/runs/{run}/delete/", {}),
        ("post", f"/runs/{run}/evaluate/", {"evaluators": ["label_match"]}),
        ("post", "/api/v1/runs/", {"model_name": "m", "model_version": "9", "model_type": "nlp"}),
        ("patch", f"/api/v1/runs/{run}/", {"model_version": "9"}),
        ("delete", f"/api/v1/runs/{run}/", {}),
        ("post", f"/api/v1/runs/{run}/cancel/", {}),
        ("post", f"/api/v1/runs/{run}/responses/", response),
        ("post", f"/api/v1/runs/{run}/execute/", {}),
        ("post", f"/api/v1/runs/{run}/evaluate/", {}),
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_curator_cannot_touch_runs(seeded, curator, login):
    client = login(curator)
    before = _counts()
    for method, path, data in _run_writes(seeded):
        kwargs = {"content_type": "application/json"} if path.startswith("/api/") else {}
        response = getattr(client, method)(path, data, **kwargs)
        assert response.status_code == 403, (method, path, response.status_code)
    assert _counts() == before


@pytest.mark.django_db
def test_an_engineer_cannot_verify_cases(seeded, engineer, login):
    client = login(engineer)
    before = _counts()
    waiting = seeded["waiting"]
    bulk = {"target": "selected", "ids": waiting, "filters": "scope=all", "confirmed": "1"}
    for data in ({**bulk, "action": "verify"}, {**bulk, "action": "unverify"}):
        assert client.post("/cases/bulk/", data).status_code == 403
    review = "origin=ai-generated&is_verified=false"
    assert (
        client.post("/cases/bulk/", {**bulk, "filters": review, "action": "verify"}).status_code
        == 403
    )
    assert client.post(f"/cases/{waiting}/edit/", {"approve": "1"}).status_code == 403
    response = client.patch(
        f"/api/v1/cases/{waiting}/", {"is_verified": True}, content_type="application/json"
    )
    assert response.status_code == 403
    assert (
        client.post(
            "/admin/cases/testcase/", {"action": "mark_verified", "_selected_action": [waiting]}
        ).status_code
        == 302
    )
    assert _counts() == before
    assert not TestCase.objects.get(pk=waiting).is_verified
