"""CSRF on every POST, the token in every form, and the security headers on every page."""

import re

import pytest
from django.test import Client

from tests.security.conftest import CATCH_ALL_404, routed_urls

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)


@pytest.mark.django_db
def test_every_post_without_the_csrf_token_is_refused(seeded, admin_user):
    """Even the all-powerful admin's session cannot write without the token: pages, the admin,
    the login form and the API's session authentication all answer 403."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    wrong = []
    for route in routed_urls(seeded):
        response = client.post(route.path, {"anything": "1"})
        if response.status_code != 403 and route.path not in CATCH_ALL_404:
            wrong.append((route.path, response.status_code))
    assert not wrong, wrong


@pytest.mark.django_db
def test_a_bearer_token_needs_no_csrf_token(seeded, admin_user):
    """Scripts authenticate with a header a browser never sends by itself: no CSRF risk."""
    from accounts.models import ApiToken

    _, raw = ApiToken.objects.issue(admin_user, "script")
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    response = client.post(f"/api/v1/runs/{seeded['run']}/cancel/")
    assert response.status_code in (200, 409)


@pytest.mark.django_db
def test_every_post_form_on_the_pages_carries_the_token(seeded, admin_user, login):
    client = login(admin_user)
    run, case = seeded["run"], seeded["case"]
    pages = ["/", "/cases/?scope=all", f"/cases/{case}/", f"/cases/{case}/edit/", "/cases/new/",
             f"/cases/{case}/delete/", "/cases/review/", "/cases/import/", "/runs/", "/runs/new/",
             f"/runs/{run}/", f"/runs/{run}/delete/", f"/runs/{run}/evaluate/",
             f"/runs/{run}/evaluation-progress/", "/accounts/tokens/",
             f"/admin/cases/testcase/{case}/change/", "/admin/cases/testcase/"]  # fmt: skip
    posted = 0
    for path in pages:
        body = client.get(path).content.decode()
        for form in FORM.findall(body):
            if re.search(r'method="post"', form, re.I):
                posted += 1
                assert 'name="csrfmiddlewaretoken"' in form, (path, form[:200])
        # htmx requests (hx-post and friends) send the token from <body hx-headers>.
        if "hx-post" in body:
            assert '"X-CSRFToken": "' in body, path
    assert posted > 15


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["viewer", "admin_user"])
def test_pages_carry_a_strict_content_security_policy(seeded, persona, request, login):
    client = login(request.getfixturevalue(persona))
    for route in routed_urls(seeded):
        if route.is_api and not route.path.startswith("/api/docs/"):
            continue
        response = client.get(route.path)
        if response.get("Content-Type", "").startswith("text/html"):
            policy = response["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
            assert "'unsafe-eval'" not in policy and "frame-ancestors 'none'" in policy
            # A nonce appears once a page uses one (the htmx script tag): nothing else inline.
            assert re.search(r"script-src 'self'( 'nonce-[\w+/=-]+')?;", policy), route.path
            assert response["X-Frame-Options"] == "DENY"
            assert response["X-Content-Type-Options"] == "nosniff"


def test_no_template_has_inline_style_or_inline_script():
    """The policy allows neither: a style attribute or a <script> without src would be refused
    by the browser (tests/browser/test_csp.py watches the console for it)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        text = path.read_text()
        for pattern in (
            r"\sstyle\s*=",
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\son\w+\s*=",
        ):
            if match := re.search(pattern, text, re.I):
                offenders.append(f"{path.relative_to(root)}: {match.group(0)}")
    assert not offenders, offenders


@pytest.mark.django_db
def test_the_login_page_sets_no_cookie_that_scripts_can_read():
    response = Client().get("/accounts/login/")
    csrf = response.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    from django.conf import settings

    assert settings.SESSION_COOKIE_HTTPONLY is True
