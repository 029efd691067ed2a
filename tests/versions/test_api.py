"""/api/v1/versions/: list, freeze (curators), read, cases (paged), diff; never edited."""

import json

import pytest
from django.test import Client

from accounts.models import ApiToken
from cases.models import TestCase
from versions.models import Version

URL = "/api/v1/versions/"


def client_for(user) -> Client:
    _, raw = ApiToken.objects.issue(user, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client: Client, data: dict):
    return client.post(URL, json.dumps(data), content_type="application/json")


@pytest.mark.django_db
class TestVersionsApi:
    def test_freeze_read_list(self, curator, viewer, make_case):
        make_case(category="a")
        make_case(category="b")
        response = post(
            client_for(curator), {"name": "v1", "description": "d", "selection": {"category": "a"}}
        )
        assert response.status_code == 201, response.content
        data = response.json()
        assert (data["name"], data["case_count"], data["created_by"]) == ("v1", 1, "curator")
        reader = client_for(viewer)
        assert reader.get(f"{URL}{data['id']}/").json()["selection"] == {"category": "a"}
        assert [v["name"] for v in reader.get(URL).json()["results"]] == ["v1"]

    def test_refusals(self, curator, viewer, make_case):
        make_case()
        writer = client_for(curator)
        assert post(client_for(viewer), {"name": "v1"}).status_code == 403
        assert post(writer, {"name": "v1"}).status_code == 201
        # A taken name and a selection matching no case are the data's state: 409, not 400.
        taken = post(writer, {"name": "v1"})
        assert taken.status_code == 409 and "name" in taken.json()["errors"]
        empty = post(writer, {"name": "v2", "selection": {"model_type": "none"}})
        assert empty.status_code == 409 and "selection" in empty.json()["errors"]
        bad = post(writer, {"name": "v2", "description": 0, "selection": {"ids": [1.5]}})
        assert bad.status_code == 400
        assert set(bad.json()["errors"]) == {"description"}  # fields first, then the selection
        assert post(writer, {"name": "   "}).status_code == 400
        version = Version.objects.get()
        assert writer.post(f"{URL}{version.pk}/").status_code == 405  # not the list's POST
        for method in ("put", "patch", "delete"):
            response = getattr(writer, method)(
                f"{URL}{version.pk}/", json.dumps({"name": "x"}), content_type="application/json"
            )
            assert response.status_code == 405
        assert Version.objects.get().name == "v1"

    def test_cases_paged_and_pinned(self, curator, viewer, make_case):
        cases = [make_case() for _ in range(5)]
        version_id = post(client_for(curator), {"name": "v1"}).json()["id"]
        TestCase.objects.filter(pk=cases[0].pk).update(ground_truth={"label": "negative"})
        TestCase.objects.filter(pk=cases[1].pk).delete()
        reader = client_for(viewer)
        page = reader.get(f"{URL}{version_id}/cases/?page_size=3").json()
        assert [row["case_id"] for row in page["results"]] == [c.pk for c in cases[:3]]
        first, second = page["results"][:2]
        assert first["ground_truth"] == {"label": "positive"} and first["edited"]
        assert second["deleted"] and not second["edited"]
        rest = reader.get(page["next"]).json()
        assert [row["case_id"] for row in rest["results"]] == [c.pk for c in cases[3:]]
        assert reader.get(f"{URL}999999/cases/").status_code == 404

    def test_diff(self, curator, viewer, make_case):
        kept, edited = make_case(), make_case()
        writer = client_for(curator)
        a = post(writer, {"name": "a"}).json()["id"]
        TestCase.objects.filter(pk=edited.pk).update(tags=["x"])
        added = make_case()
        b = post(writer, {"name": "b"}).json()["id"]
        reader = client_for(viewer)
        diff = reader.get(f"{URL}diff/?a={a}&b={b}").json()
        assert diff["added"] == [added.pk] and diff["removed"] == []
        assert diff["changed"] == [{"case_id": edited.pk, "from": 1, "to": 2, "fields": ["tags"]}]
        assert diff["counts"]["unchanged"] == 1 and kept.pk not in diff["added"]
        assert reader.get(f"{URL}diff/?a={a}").status_code == 400
        assert reader.get(f"{URL}diff/?a={a}&b=999999").status_code == 404
