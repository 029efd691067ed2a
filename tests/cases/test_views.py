"""Curation pages per persona (viewers read, curators edit, outsiders refused), bounded queries."""

import html

import pytest
from django.urls import reverse

from cases.models import TestCase

READ_PAGES = ["cases:list", "cases:review", "cases:export"]


@pytest.fixture
def case(make_case):
    return make_case()


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("name", READ_PAGES)
    def test_viewer_reads(self, login, viewer, case, name):
        assert login(viewer).get(reverse(name)).status_code == 200

    def test_viewer_reads_a_case(self, login, viewer, case):
        response = login(viewer).get(case.get_absolute_url())
        assert response.status_code == 200
        assert b"Edit" not in response.content

    @pytest.mark.parametrize(
        ("name", "with_pk"),
        [
            ("cases:create", False),
            ("cases:edit", True),
            ("cases:delete", True),
            ("cases:import", False),
        ],
    )
    def test_viewer_cannot_edit(self, login, viewer, case, name, with_pk):
        url = reverse(name, args=[case.pk] if with_pk else [])
        assert login(viewer).get(url).status_code == 403
        assert login(viewer).post(url, {}).status_code == 403
        assert TestCase.objects.filter(pk=case.pk).exists()

    def test_viewer_cannot_run_bulk_actions(self, login, viewer, case):
        response = login(viewer).post(
            reverse("cases:bulk"), {"action": "delete", "ids": case.pk, "confirmed": "1"}
        )
        assert response.status_code == 403
        assert TestCase.objects.filter(pk=case.pk).exists()

    @pytest.mark.parametrize("name", [*READ_PAGES, "cases:create", "cases:import"])
    def test_outsider_is_refused(self, login, outsider, name):
        assert login(outsider).get(reverse(name)).status_code == 403

    def test_outsider_cannot_see_a_case(self, login, outsider, case):
        assert login(outsider).get(case.get_absolute_url()).status_code == 403

    def test_anonymous_goes_to_login(self, client, case):
        response = client.get(reverse("cases:list"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    @pytest.mark.parametrize("name", ["cases:create", "cases:import"])
    def test_curator_edits(self, login, curator, name):
        assert login(curator).get(reverse(name)).status_code == 200


@pytest.mark.django_db
class TestCaseList:
    def test_golden_set_by_default_and_says_so(self, login, viewer, make_case):
        golden = make_case(input_data={"text": "golden one"})
        make_case(origin="ai-generated", is_verified=False, input_data={"text": "pending one"})
        response = login(viewer).get(reverse("cases:list"))
        body = response.content.decode()
        assert "golden one" in body and "pending one" not in body
        assert "Showing the golden set: human-written, verified cases." in body
        assert f'value="{golden.pk}"' not in body  # viewers get no row checkboxes

    def test_widening_is_visible(self, login, viewer, make_case):
        make_case(origin="ai-generated", is_verified=False, input_data={"text": "pending one"})
        body = login(viewer).get(reverse("cases:list"), {"scope": "all"}).content.decode()
        assert "pending one" in body
        assert "Widened to every case" in body

    def test_htmx_gets_only_the_results(self, login, viewer, make_case):
        make_case(tags=["night"], input_data={"text": "night shot"})
        make_case(tags=["day"], input_data={"text": "day shot"})
        response = login(viewer).get(
            reverse("cases:list"), {"tags": "night"}, headers={"HX-Request": "true"}
        )
        body = response.content.decode()
        assert "<html" not in body and 'id="case-filters"' not in body
        assert "night shot" in body and "day shot" not in body

    def test_a_bad_filter_says_why(self, login, viewer, case):
        body = login(viewer).get(reverse("cases:list"), {"difficulty": "x"}).content.decode()
        assert "difficulty" in body and "Select a valid choice" in body

    def test_keyset_pages_walk_forward_and_back(self, login, viewer, make_case):
        made = [make_case(input_data={"text": f"case number {i}"}).pk for i in range(7)]
        client = login(viewer)
        from cases import views

        views.CaseListView.paginate_by = 3
        try:
            seen, url, params = [], reverse("cases:list"), {}
            pages = []
            for _ in range(3):
                response = client.get(url, params)
                page = response.context["page"]
                pages.append(page)
                seen += [case.pk for case in page]
                if page.next_cursor:
                    params = {"after": page.next_cursor}
            assert seen == sorted(made, reverse=True)
            back = client.get(url, {"before": pages[2].previous_cursor}).context["page"]
            assert [c.pk for c in back] == [c.pk for c in pages[1]]
            last = client.get(url, {"last": "1"}).context["page"]
            # The last page is the last full page: the three oldest cases.
            assert [c.pk for c in last] == sorted(made, reverse=True)[-3:] and last.is_last
            assert not last.is_first
        finally:
            views.CaseListView.paginate_by = 50

    def test_a_broken_page_link_falls_back_to_the_first_page(self, login, viewer, case):
        response = login(viewer).get(reverse("cases:list"), {"after": "not-a-cursor"})
        assert response.status_code == 200
        assert [c.pk for c in response.context["page"]] == [case.pk]

    def test_sortable_columns(self, login, viewer, make_case):
        make_case(category="b")
        make_case(category="a")
        page = login(viewer).get(reverse("cases:list"), {"sort": "category"}).context["page"]
        assert [c.category for c in page] == ["a", "b"]

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"tags": "en"},
            {"json": "lang=en"},
            {"q": "kettle"},
            {"scope": "all", "sort": "category"},
        ],
    )
    def test_query_count_is_bounded(
        self, login, curator, make_case, django_assert_max_num_queries, params
    ):
        for _ in range(30):
            make_case()
        client = login(curator)
        with django_assert_max_num_queries(9):
            response = client.get(reverse("cases:list"), params)
        assert len(response.context["page"]) == 30


@pytest.mark.django_db
class TestDetail:
    def test_shows_json_preview_and_provenance(self, login, viewer, make_user, make_case):
        author = make_user("curator", "maria")
        case = make_case(created_by=author, tags=["en", "sarcasm"])
        body = login(viewer).get(case.get_absolute_url()).content.decode()
        assert "The kettle is great, I love it." in body  # text shown as text
        assert "&quot;label&quot;: &quot;positive&quot;" in body  # pretty JSON
        assert "maria" in body and "sarcasm" in body and "Human" in body

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            (
                {"input_type": "image_path", "input_data": {"image_url": "https://x.test/a.png"}},
                '<img src="https://x.test/a.png"',
            ),
            (
                {"input_type": "image_path", "input_data": {"image_path": "s3://bucket/a.jpg"}},
                "s3://bucket/a.jpg",
            ),
            (
                {
                    "input_type": "time_series",
                    "input_data": {"series": [1, 3, 2, 5]},
                    "output_type": "forecast",
                    "ground_truth": {"values": [4, 6]},
                },
                "<polyline",
            ),
            (
                {"input_type": "tabular", "input_data": {"tenure": 12, "plan": "pro"}},
                "<th>tenure</th>",
            ),
        ],
    )
    def test_preview_by_input_type(self, login, viewer, make_case, fields, expected):
        case = make_case(**fields)
        assert expected in login(viewer).get(case.get_absolute_url()).content.decode()

    def test_query_count_is_bounded(self, login, viewer, case, django_assert_max_num_queries):
        client = login(viewer)
        with django_assert_max_num_queries(6):
            assert client.get(case.get_absolute_url()).status_code == 200


def case_post(**overrides) -> dict:
    data = {
        "model_type": "nlp",
        "category": "sentiment",
        "input_type": "text",
        "input_format": "",
        "input_data": '{"text": "Great blender", "lang": "en"}',
        "output_type": "classification",
        "ground_truth": '{"label": "positive"}',
        "tags": "en, reviews",
        "difficulty": "easy",
        "origin": "human",
        "is_verified": "",
        "metadata": "{}",
    }
    return {**data, **overrides}


@pytest.mark.django_db
class TestCreateEdit:
    def test_curator_creates_a_case(self, login, curator):
        response = login(curator).post(reverse("cases:create"), case_post())
        case = TestCase.objects.get()
        assert response.status_code == 302 and response["Location"] == case.get_absolute_url()
        assert case.input_data == {"text": "Great blender", "lang": "en"}
        assert case.tags == ["en", "reviews"] and case.created_by == curator
        assert case.is_verified and case.origin == "human"

    def test_malformed_json_names_the_position(self, login, curator):
        response = login(curator).post(
            reverse("cases:create"), case_post(input_data='{\n  "text": "hi",\n  "lang" "en"\n}')
        )
        assert response.status_code == 200
        errors = response.context["form"].errors["input_data"]
        assert errors == ["Invalid JSON at line 3, column 10: Expecting ':' delimiter."]
        assert not TestCase.objects.exists()

    def test_ground_truth_must_have_the_shape_of_its_output_type(self, login, curator):
        response = login(curator).post(
            reverse("cases:create"),
            case_post(
                output_type="bounding_boxes", ground_truth='{"boxes": [{"bbox": [1, 2, 3]}]}'
            ),
        )
        [error] = response.context["form"].errors["ground_truth"]
        assert "bbox" in error and "4 numbers" in error
        assert not TestCase.objects.exists()

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("input_data", "[1, 2]", "must be a JSON object"),
            ("metadata", '"note"', "must be a JSON object"),
            ("tags", "ok, bad;tag", "may not contain"),
            ("input_type", "not a slug!", "valid “slug”"),
        ],
    )
    def test_other_rules_of_the_import_apply(self, login, curator, field, value, message):
        response = login(curator).post(reverse("cases:create"), case_post(**{field: value}))
        assert message in " ".join(response.context["form"].errors[field])

    @pytest.mark.parametrize(
        ("origin", "choice", "expected"),
        [("human", "", True), ("ai-generated", "", False), ("ai-generated", "true", True)],
    )
    def test_verified_follows_the_origin_unless_chosen(
        self, login, curator, origin, choice, expected
    ):
        login(curator).post(reverse("cases:create"), case_post(origin=origin, is_verified=choice))
        assert TestCase.objects.get().is_verified is expected

    def test_unverify_on_edit(self, login, curator, case):
        response = login(curator).get(reverse("cases:edit", args=[case.pk]))
        assert response.context["form"]["is_verified"].value() == "true"
        login(curator).post(reverse("cases:edit", args=[case.pk]), case_post(is_verified="false"))
        case.refresh_from_db()
        assert case.is_verified is False

    def test_editing_keeps_the_origin(self, login, curator, make_case):
        case = make_case(origin="ai-generated", is_verified=False)
        response = login(curator).post(
            reverse("cases:edit", args=[case.pk]), case_post(origin="human", category="irony")
        )
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.origin == "ai-generated" and case.category == "irony"

    def test_save_and_approve(self, login, curator, make_case):
        case = make_case(origin="ai-generated", is_verified=False)
        data = case_post(approve="1", next="/cases/review/")
        data.pop("is_verified")
        response = login(curator).post(reverse("cases:edit", args=[case.pk]), data)
        assert response["Location"] == "/cases/review/"
        case.refresh_from_db()
        assert case.is_verified and case.origin == "ai-generated"

    def test_edit_moves_updated_at(self, login, curator, case):
        before = case.updated_at
        login(curator).post(reverse("cases:edit", args=[case.pk]), case_post(category="x"))
        case.refresh_from_db()
        assert case.updated_at > before

    @pytest.mark.parametrize(
        ("field", "text", "output_type", "expected"),
        [
            ("input_data", '{"text": "hi"}', "", "valid JSON"),
            ("input_data", '{"text": "hi",}', "", "Invalid JSON at line 1, column 15"),
            ("ground_truth", '{"labl": "cat"}', "classification", 'missing key "label"'),
            ("input_data", "[]", "", "must be a JSON object"),
            (
                "ground_truth",
                '{"text": "8", "assert": [{"type": "regex", "value": "(8"}]}',
                "text",
                '"assert"[0]: "value" is not a valid regular expression',
            ),
            (
                "ground_truth",
                '{"assert": [{"type": "contains", "value": "8"}]}',
                "structured",
                '"badge ok">valid JSON',
            ),
        ],
    )
    def test_live_json_hint(self, login, viewer, field, text, output_type, expected):
        response = login(viewer).post(
            reverse("cases:check_json"),
            {"field": field, field: text, "output_type": output_type},
            headers={"HX-Request": "true"},
        )
        assert expected in html.unescape(response.content.decode())


@pytest.mark.django_db
class TestDelete:
    def test_confirmation_counts_what_goes_with_the_case(self, login, curator, case):
        from runs.models import ModelRun, Response

        run = ModelRun.objects.create(model_name="m", model_version="1", model_type="nlp")
        response = Response.objects.create(run=run, test_case=case, output_data={"label": "x"})
        response.evaluations.create(evaluator_type="label_match", score=0, passed=False)
        body = login(curator).get(reverse("cases:delete", args=[case.pk])).content.decode()
        assert "1 responses" in body and "1 evaluations" in body
        login(curator).post(reverse("cases:delete", args=[case.pk]))
        assert not TestCase.objects.exists() and not Response.objects.exists()
        assert ModelRun.objects.exists()
