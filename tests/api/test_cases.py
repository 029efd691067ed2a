"""/api/v1/cases/: per persona, the page's filters, cursor pages, atomic bulk create, edits."""

import json

import pytest
from django.test import Client
from model_bakery import baker

from cases.models import TestCase
from runs.models import Response
from tests.baker_recipes import make_case

URL = "/api/v1/cases/"
WRITERS = ("curator", "admin_user")
NON_WRITERS = ("viewer", "engineer")


def case(**overrides) -> dict:
    return {
        "input_data": {"text": "great film"},
        "input_type": "text",
        "ground_truth": {"label": "positive"},
        "output_type": "classification",
        "model_type": "nlp",
        "category": "sentiment",
        "tags": ["en", "short"],
        "difficulty": "easy",
        **overrides,
    }


def post(client: Client, data, url: str = URL):
    return client.post(url, json.dumps(data), content_type="application/json")


def patch(client: Client, url: str, data):
    return client.patch(url, json.dumps(data), content_type="application/json")


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
    def test_every_role_reads(self, persona, as_persona):
        make_case()
        response = as_persona(persona).get(URL)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 1

    def test_anonymous_gets_401(self, as_persona):
        response = as_persona("anonymous").get(URL)
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Authentication credentials were not provided.",
            "errors": {},
        }
        assert post(as_persona("anonymous"), case()).status_code == 401

    def test_user_without_role_gets_403_even_to_read(self, as_persona):
        response = as_persona("outsider").get(URL)
        assert response.status_code == 403
        assert set(response.json()) == {"detail", "errors"}

    @pytest.mark.parametrize("persona", NON_WRITERS)
    def test_viewer_and_engineer_cannot_write_cases(self, persona, as_persona):
        existing = make_case()
        client = as_persona(persona)
        assert post(client, case()).status_code == 403
        assert patch(client, f"{URL}{existing.pk}/", {"category": "x"}).status_code == 403
        assert client.delete(f"{URL}{existing.pk}/").status_code == 403
        assert TestCase.objects.count() == 1

    @pytest.mark.parametrize("persona", WRITERS)
    def test_curator_and_admin_write_cases(self, persona, as_persona):
        client = as_persona(persona)
        response = post(client, case())
        assert response.status_code == 201, response.json()
        url = f"{URL}{response.json()['id']}/"
        assert patch(client, url, {"category": "reviews"}).status_code == 200
        assert client.delete(url).status_code == 204
        assert not TestCase.objects.exists()

    def test_session_auth_works_and_enforces_csrf(self, curator):
        client = Client(enforce_csrf_checks=True)
        client.force_login(curator)
        assert client.get(URL).status_code == 200
        refused = post(client, case())
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        client.get("/accounts/tokens/")  # any page sets the CSRF cookie
        token = client.cookies["csrftoken"].value
        response = client.post(
            URL, json.dumps(case()), content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 201


@pytest.mark.django_db
class TestList:
    def test_golden_set_by_default_and_scope_widens(self, as_persona):
        golden = make_case()
        ai = make_case(origin="ai-generated", is_verified=False)
        reviewed_ai = make_case(origin="ai-generated", is_verified=True)
        client = as_persona("viewer")

        def ids(query: str = "") -> set[int]:
            response = client.get(URL + query)
            assert response.status_code == 200, response.json()
            return {row["id"] for row in response.json()["results"]}

        assert ids() == {golden.pk}
        assert ids("?scope=verified") == {golden.pk, reviewed_ai.pk}
        assert ids("?scope=all") == {golden.pk, ai.pk, reviewed_ai.pk}
        assert ids("?origin=ai-generated") == {ai.pk, reviewed_ai.pk}  # an explicit widening

    def test_page_filters(self, as_persona):
        nlp = make_case(model_type="nlp", category="sentiment", tags=["en", "short"])
        cv = make_case(model_type="computer_vision", tags=["fr"], difficulty="hard")
        make_case(
            model_type="nlp", category="ner", input_data={"text": "x", "lang": "de"}, tags=["de"]
        )
        client = as_persona("viewer")

        def ids(query: str) -> set[int]:
            return {row["id"] for row in client.get(URL + query).json()["results"]}

        assert ids("?model_type=computer_vision") == {cv.pk}
        assert ids("?tags=en,fr") == {nlp.pk, cv.pk}
        assert ids("?tags_all=en,short") == {nlp.pk}
        assert ids("?difficulty=hard") == {cv.pk}
        assert ids("?category=sentiment&model_type=nlp") == {nlp.pk}
        assert len(ids("?json=lang=de")) == 1

    def test_bad_filter_is_a_400_naming_the_parameter(self, as_persona):
        response = as_persona("viewer").get(URL + "?difficulty=impossible&created_after=soon")
        assert response.status_code == 400
        body = response.json()
        assert set(body["errors"]) == {"difficulty", "created_after"}
        assert body["detail"].startswith("Invalid input: ")

    def test_cursor_pages_walk_every_case_once(self, as_persona):
        made = {make_case().pk for _ in range(7)}
        client = as_persona("viewer")
        seen, url = [], URL + "?page_size=3"
        while url:
            body = client.get(url).json()
            seen += [row["id"] for row in body["results"]]
            url = body["next"]
        assert seen == sorted(made, reverse=True)
        assert client.get(URL + "?cursor=garbage").status_code == 400  # "Invalid cursor"

    def test_sort_orders_the_cursor_pages(self, as_persona):
        made = [make_case(category=name).pk for name in ("b", "a", "c", "a")]
        client = as_persona("viewer")
        seen, url = [], URL + "?sort=category&page_size=1"
        while url:
            body = client.get(url).json()
            seen += [(row["category"], row["id"]) for row in body["results"]]
            url = body["next"]
        assert seen == sorted(zip(["b", "a", "c", "a"], made, strict=True))
        assert client.get(URL + "?sort=nonsense").status_code == 400

    def test_row_shape(self, curator, as_persona):
        made = make_case(created_by=curator, tags=["en"], metadata={"source": "x"})
        row = as_persona("viewer").get(URL).json()["results"][0]
        assert row["id"] == made.pk and row["created_by"] == "curator"
        assert row["tags"] == ["en"] and row["metadata"] == {"source": "x"}
        assert {"created_at", "updated_at", "origin", "is_verified"} <= set(row)
        assert "search_vector" not in row

    @pytest.mark.parametrize("page_size", [10, 100])
    def test_a_page_costs_a_fixed_number_of_queries(
        self, page_size, make_user, as_persona, django_assert_max_num_queries
    ):
        users = [make_user("curator") for _ in range(5)]
        for i in range(120):
            make_case(created_by=users[i % 5], tags=["t"])
        client = as_persona("viewer")
        client.get(URL)  # the token's first use writes last_used_at once
        # token + user, the user's permissions (2), the page: whatever the page size.
        with django_assert_max_num_queries(4):
            response = client.get(f"{URL}?page_size={page_size}")
        assert len(response.json()["results"]) == page_size


@pytest.mark.django_db
class TestCreate:
    def test_one_case_with_model_defaults(self, curator, as_persona):
        response = post(as_persona("curator"), case())
        assert response.status_code == 201
        body = response.json()
        stored = TestCase.objects.get(pk=body["id"])
        assert stored.created_by == curator and body["created_by"] == "curator"
        assert stored.origin == "human" and stored.is_verified is True
        assert stored.ground_truth == {"label": "positive"} and stored.tags == ["en", "short"]

    def test_ai_generated_cases_come_in_unverified(self, as_persona):
        response = post(as_persona("curator"), case(origin="ai-generated"))
        assert response.status_code == 201 and response.json()["is_verified"] is False

    def test_a_list_is_stored_whole(self, as_persona):
        response = post(as_persona("curator"), [case(), case(category="x"), case(tags=[])])
        assert response.status_code == 201
        assert [row["category"] for row in response.json()] == ["sentiment", "x", "sentiment"]
        assert TestCase.objects.count() == 3

    def test_a_list_costs_a_fixed_number_of_queries(
        self, as_persona, django_assert_max_num_queries
    ):
        client = as_persona("curator")
        client.get(URL)  # the token's first use writes last_used_at once
        # auth, permissions, one INSERT in a savepoint; naming and un-naming the revisions author
        with django_assert_max_num_queries(9):
            response = post(client, [case(category=str(i)) for i in range(200)])
        assert response.status_code == 201
        assert {row["created_by"] for row in response.json()} == {"curator"}
        stored = as_persona("viewer").get(f"{URL}{response.json()[0]['id']}/").json()
        assert stored == response.json()[0]  # what POST answers is what GET reads

    def test_one_bad_object_stores_nothing_and_names_index_and_field(self, as_persona):
        bad = [
            case(),
            case(),
            case(ground_truth={"labels": "positive"}),
            case(difficulty="impossible", input_data="not an object"),
        ]
        response = post(as_persona("curator"), bad)
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert set(errors) == {"2.ground_truth", "3.difficulty", "3.input_data"}
        assert 'missing key "label"' in errors["2.ground_truth"][0]
        assert response.json()["detail"].startswith("Invalid input: 2.ground_truth: ")
        assert not TestCase.objects.exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"input_type": "text"}, "input_data"),
            (case(unknown=1), "unknown"),
            (case(input_type="not a slug"), "input_type"),
            (case(tags="en"), "tags"),
            (case(is_verified="yes"), "is_verified"),
            (case(metadata=[1]), "metadata"),
            (case(input_data={"text": "nul \u0000 here"}), "input_data"),
            (case(input_data={"text": "lone \ud800"}), "input_data"),
            (case(category="c" * 101), "category"),
            (case(origin={"by": "model"}), "origin"),
            (case(difficulty=["hard"]), "difficulty"),
        ],
    )
    def test_invalid_fields_are_400_never_500(self, as_persona, body, field):
        response = as_persona("curator").post(
            URL, json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 400
        assert field in response.json()["errors"]
        assert not TestCase.objects.exists()

    @pytest.mark.parametrize("body", ["[]", "[1, 2]", "null", '"text"', "{not json", "NaN", "[{}]"])
    def test_malformed_bodies_are_400(self, as_persona, body):
        response = as_persona("curator").post(URL, body, content_type="application/json")
        assert response.status_code == 400
        assert set(response.json()) == {"detail", "errors"}

    def test_form_bodies_are_415(self, as_persona):
        response = as_persona("curator").post(URL, {"input_type": "text"})
        assert response.status_code == 415

    def test_id_and_timestamps_in_the_body_are_ignored(self, as_persona):
        response = post(as_persona("curator"), case(id=999999, created_at="2001-01-01"))
        assert response.status_code == 201 and response.json()["id"] != 999999


@pytest.mark.django_db
class TestObject:
    def test_get_reaches_cases_outside_the_golden_set(self, as_persona):
        ai = make_case(origin="ai-generated", is_verified=False)
        response = as_persona("viewer").get(f"{URL}{ai.pk}/")
        assert response.status_code == 200 and response.json()["origin"] == "ai-generated"

    def test_missing_case_is_404_in_the_error_format(self, as_persona):
        response = as_persona("viewer").get(f"{URL}987654/")
        assert response.status_code == 404
        assert response.json() == {"detail": "No TestCase matches the given query.", "errors": {}}

    def test_patch_validates_the_merged_case(self, curator, make_user, as_persona):
        author = make_user("curator")
        stored = make_case(created_by=author, category="old")
        before = stored.updated_at
        client = as_persona("curator")
        response = patch(client, f"{URL}{stored.pk}/", {"category": "new", "tags": ["a"]})
        assert response.status_code == 200
        stored.refresh_from_db()
        assert stored.category == "new" and stored.tags == ["a"]
        assert stored.updated_at > before and stored.created_by == author
        # Changing the output type alone leaves a ground truth that does not fit it.
        response = patch(client, f"{URL}{stored.pk}/", {"output_type": "bounding_boxes"})
        assert response.status_code == 400 and "ground_truth" in response.json()["errors"]

    def test_delete_cascades_to_responses(self, as_persona):
        stored = make_case()
        baker.make(Response, test_case=stored, output_data={})
        assert as_persona("curator").delete(f"{URL}{stored.pk}/").status_code == 204
        assert not Response.objects.exists()

    def test_put_is_not_offered(self, as_persona):
        stored = make_case()
        response = as_persona("curator").put(
            f"{URL}{stored.pk}/", json.dumps(case()), content_type="application/json"
        )
        assert response.status_code == 405
        assert set(response.json()) == {"detail", "errors"}


@pytest.mark.django_db
def test_unknown_api_paths_get_json_404(as_persona):
    response = as_persona("viewer").get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["errors"] == {}
    assert "slash" in as_persona("anonymous").get("/api/v1/cases").json()["detail"]
