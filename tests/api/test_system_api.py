"""GET /api/v1/system/: /system/'s figures for monitoring scripts, which send a token."""

import pytest
from django.test import Client

from cases.models import TestCase


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer"])
def test_only_admins_read_it(request, persona, api_client):
    assert api_client(request.getfixturevalue(persona)).get("/api/v1/system/").status_code == 403
    assert Client().get("/api/v1/system/").status_code in (401, 403)


@pytest.mark.django_db
def test_it_is_the_pages_json(admin_user, api_client, make_case):
    make_case()
    client = api_client(admin_user)
    data = client.get("/api/v1/system/").json()
    counts = {table["table"]: table["rows"] for table in data["tables"]}
    assert counts[TestCase._meta.db_table] == TestCase.objects.count() == 1
    assert data["database"] in ("embedded", "external") and data["workers_alive"] == 0
    client.force_login(admin_user)
    page = client.get("/system/?format=json").json()
    assert page.keys() == data.keys()
