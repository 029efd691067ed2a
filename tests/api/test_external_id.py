"""/api/v1/cases/ with external ids: ?on_conflict=error|skip|update."""

import json

import pytest

from cases.models import TestCase


def case(external_id=None, label="positive") -> dict:
    record = {
        "input_data": {"text": "x"},
        "input_type": "text",
        "ground_truth": {"label": label},
        "output_type": "classification",
    }
    if external_id is not None:
        record["external_id"] = external_id
    return record


@pytest.mark.django_db
class TestApi:
    URL = "/api/v1/cases/"

    def post(self, client, data, query=""):
        return client.post(self.URL + query, json.dumps(data), content_type="application/json")

    def test_a_known_external_id_is_a_409_by_default(self, as_persona):
        client = as_persona("curator")
        first = self.post(client, case("r1"))
        assert first.status_code == 201 and first.json()["external_id"] == "r1"
        again = self.post(client, [case("r2"), case("r1")])
        assert again.status_code == 409
        assert list(again.json()["errors"]) == ["1.external_id"]
        assert TestCase.objects.count() == 1

    def test_skip_returns_the_stored_case(self, as_persona):
        client = as_persona("curator")
        stored = self.post(client, case("r1")).json()
        response = self.post(client, case("r1", label="negative"), "?on_conflict=skip")
        assert response.status_code == 201 and response.json()["id"] == stored["id"]
        assert TestCase.objects.get().ground_truth == {"label": "positive"}

    def test_update_overwrites_and_creates_the_rest(self, as_persona):
        client = as_persona("curator")
        stored = self.post(client, case("r1")).json()
        response = self.post(
            client, [case("r1", label="negative"), case("r2")], "?on_conflict=update"
        )
        assert response.status_code == 201
        body = response.json()
        assert body[0]["id"] == stored["id"] and body[0]["ground_truth"] == {"label": "negative"}
        assert TestCase.objects.count() == 2

    def test_unknown_on_conflict_is_a_400(self, as_persona):
        response = self.post(as_persona("curator"), case("r1"), "?on_conflict=merge")
        assert response.status_code == 400 and "on_conflict" in response.json()["errors"]
