"""Who may see what: the dashboard, the admin site, /healthz, the login page."""

import json
import os
import subprocess
import sys

import pytest
from django.test import Client


@pytest.mark.django_db
class TestAnonymous:
    @pytest.mark.parametrize("path", ["/", "/admin/", "/accounts/logout/"])
    def test_pages_redirect_to_login(self, path):
        response = Client().get(path)
        assert response.status_code == 302
        assert (
            response["Location"].startswith("/accounts/login/")
            or "/admin/login/" in response["Location"]
        )

    def test_login_page_is_public(self):
        response = Client().get("/accounts/login/")
        assert response.status_code == 200
        assert b"Log in to mleval" in response.content

    def test_healthz_is_public_and_checks_the_database(self):
        response = Client().get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
class TestDashboard:
    @pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
    def test_every_role_sees_the_dashboard(self, persona, request, login):
        response = login(request.getfixturevalue(persona)).get("/")
        assert response.status_code == 200
        assert b"Cases by domain" in response.content

    def test_a_user_without_a_role_is_refused(self, outsider, login):
        assert login(outsider).get("/").status_code == 403

    def test_login_then_dashboard(self, viewer):
        from tests.conftest import PASSWORD

        client = Client()
        response = client.post(
            "/accounts/login/", {"username": "viewer", "password": PASSWORD}, follow=True
        )
        assert response.redirect_chain[-1][0] == "/"
        assert response.status_code == 200


@pytest.mark.django_db
class TestAdminSite:
    def test_admin_role_with_staff_flag_enters(self, admin_user, login):
        assert login(admin_user).get("/admin/").status_code == 200

    @pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "outsider"])
    def test_other_roles_are_sent_to_the_admin_login(self, persona, request, login):
        response = login(request.getfixturevalue(persona)).get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_healthz_answers_503_when_the_database_is_down():
    """A real unreachable server (a closed port), in a process of its own."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps([r.status_code, r.json()]))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test",
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    status, body = json.loads(out.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body["status"] == "error"


@pytest.mark.django_db
def test_dashboard_with_seeded_data_in_bounded_queries(
    viewer, login, django_assert_max_num_queries
):
    from django.core.management import call_command

    call_command("seed_user_data", stdout=open(os.devnull, "w"))
    client = login(viewer)
    with django_assert_max_num_queries(8):
        response = client.get("/")
    assert response.status_code == 200
    assert b"computer_vision" in response.content and b"invoice-regex" in response.content
