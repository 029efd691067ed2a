"""Bulk actions (selected rows or all matching the filters) and the review queue."""

import pytest
from django.urls import reverse

from cases import curation
from cases.models import TestCase
from mleval_site import db


def bulk(
    client, action, *, ids=(), target="selected", filters="", value="", confirmed=True, **extra
):
    data = {
        "action": action,
        "ids": ",".join(str(i) for i in ids),
        "target": target,
        "filters": filters,
        "value": value,
        **extra,
    }
    if confirmed:
        data["confirmed"] = "1"
    return client.post(reverse("cases:bulk"), data)


@pytest.mark.django_db
class TestBulkActions:
    def test_the_confirmation_counts_what_will_change(self, login, curator, make_case):
        a = make_case(is_verified=False)
        b = make_case(is_verified=True)
        response = bulk(
            login(curator), "verify", ids=[a.pk, b.pk], filters="scope=all", confirmed=False
        )
        assert response.status_code == 200
        preview = response.context["preview"]
        assert (preview.matching, preview.changing) == (2, 1)
        a.refresh_from_db()
        assert not a.is_verified  # nothing happens before the confirmation

    def test_verify_two_selected_cases(self, login, curator, make_case):
        a, b, other = (make_case(is_verified=False) for _ in range(3))
        before = a.updated_at
        response = bulk(login(curator), "verify", ids=[a.pk, b.pk], filters="scope=all")
        assert response.status_code == 302
        assert set(TestCase.objects.filter(is_verified=True).values_list("pk", flat=True)) == {
            a.pk,
            b.pk,
        }
        a.refresh_from_db()
        assert a.updated_at > before

    def test_all_matching_uses_the_filters(self, login, curator, make_case):
        night = [make_case(tags=["night"]) for _ in range(3)]
        day = make_case(tags=["day"])
        bulk(login(curator), "add_tag", target="all", filters="tags=night", value="reviewed")
        for case in night:
            case.refresh_from_db()
            assert case.tags == ["night", "reviewed"]
        day.refresh_from_db()
        assert day.tags == ["day"]

    def test_all_matching_keeps_the_golden_default(self, login, curator, make_case):
        golden = make_case(is_verified=True, category="a")
        pending = make_case(is_verified=False, category="a")
        bulk(login(curator), "set_category", target="all", filters="", value="b")
        golden.refresh_from_db()
        pending.refresh_from_db()
        assert (golden.category, pending.category) == ("b", "a")

    @pytest.mark.parametrize(
        ("action", "value", "field", "start", "expected"),
        [
            ("unverify", "", "is_verified", True, False),
            ("remove_tag", "en", "tags", ["en", "reviews"], ["reviews"]),
            ("add_tag", "en", "tags", ["en"], ["en"]),  # not added twice
            ("set_difficulty", "hard", "difficulty", "easy", "hard"),
            ("set_category", "irony", "category", "sentiment", "irony"),
        ],
    )
    def test_each_action(self, login, curator, make_case, action, value, field, start, expected):
        case = make_case(**{field: start})
        bulk(login(curator), action, ids=[case.pk], filters="scope=all", value=value)
        case.refresh_from_db()
        assert getattr(case, field) == expected

    def test_delete_counts_cascades_then_deletes(self, login, curator, make_case):
        from runs.models import ModelRun, Response

        cases = [make_case() for _ in range(2)]
        run = ModelRun.objects.create(model_name="m", model_version="1", model_type="nlp")
        for case in cases:
            Response.objects.create(run=run, test_case=case, output_data={})
        client = login(curator)
        response = bulk(client, "delete", ids=[c.pk for c in cases], confirmed=False)
        assert dict(response.context["preview"].cascade) == {
            "case flags": 0,
            "responses": 2,
            "evaluations": 0,
            "grading items": 0,
            "assignments": 0,
        }
        assert "2 responses" in response.content.decode()
        bulk(client, "delete", ids=[c.pk for c in cases])
        assert not TestCase.objects.exists() and not Response.objects.exists()

    def test_a_bad_value_changes_nothing(self, login, curator, make_case):
        case = make_case()
        response = bulk(login(curator), "set_difficulty", ids=[case.pk], value="impossible")
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.difficulty == "easy"

    def test_bad_filters_change_nothing(self, login, curator, make_case):
        case = make_case()
        client = login(curator)
        bulk(client, "set_category", target="all", filters="difficulty=impossible", value="x")
        case.refresh_from_db()
        assert case.category == "sentiment"
        assert "difficulty" in client.get(reverse("cases:list")).content.decode()

    def test_nothing_ticked_is_explained(self, login, curator, make_case):
        make_case()
        client = login(curator)
        bulk(client, "verify", ids=[])
        body = client.get(reverse("cases:list")).content.decode()
        assert "Tick at least one row" in body

    def test_one_transaction(self, make_case, monkeypatch):
        """A failing delete leaves the cascaded rows in place too."""
        from runs.models import ModelRun, Response

        case = make_case()
        run = ModelRun.objects.create(model_name="m", model_version="1", model_type="nlp")
        Response.objects.create(run=run, test_case=case, output_data={})
        calls = []
        real = db._raw_delete

        def failing(queryset):
            calls.append(queryset.model)
            if queryset.model is TestCase:
                raise RuntimeError("boom")
            return real(queryset)

        monkeypatch.setattr(db, "_raw_delete", failing)
        with pytest.raises(RuntimeError):
            curation.delete_cases(TestCase.objects.all())
        assert Response.objects.count() == 1 and TestCase.objects.count() == 1


@pytest.mark.django_db
class TestReviewQueue:
    def test_lists_ai_generated_unverified_oldest_first(self, login, viewer, make_case):
        first = make_case(origin="ai-generated", is_verified=False)
        second = make_case(origin="ai-generated", is_verified=False)
        make_case(origin="ai-generated", is_verified=True)
        make_case(is_verified=False)
        page = login(viewer).get(reverse("cases:review")).context["page"]
        assert [c.pk for c in page] == [first.pk, second.pk]

    def test_shows_enough_text_to_judge_with_the_ground_truth(self, login, viewer, make_case):
        text = "The kettle boils fast but the lid broke after a week, which is annoying. " * 4
        make_case(
            origin="ai-generated",
            is_verified=False,
            input_data={"text": text.strip()},
            ground_truth={"label": "negative"},
        )
        html = login(viewer).get(reverse("cases:review")).content.decode()
        row = html[html.index('class="review-text"') :]
        assert text.strip().replace("'", "&#x27;") in row  # the whole text (up to 600 chars)
        assert row.index("kettle") < row.index(">negative<")  # the truth right beside it

    def test_approve_one_keeps_its_origin(self, login, curator, make_case):
        case = make_case(origin="ai-generated", is_verified=False)
        client = login(curator)
        page = client.get(reverse("cases:review"))
        filters = page.context["review_filters"]
        response = bulk(client, "verify", ids=[case.pk], filters=filters, next="/cases/review/")
        assert response["Location"] == "/cases/review/"
        case.refresh_from_db()
        assert case.is_verified and case.origin == "ai-generated"
        assert "Approved: 1 case." in client.get("/cases/review/").content.decode()
        assert list(client.get(reverse("cases:review")).context["page"]) == []

    def test_approve_selected_needs_no_confirmation_page(self, login, curator, make_case):
        a, b, c = (make_case(origin="ai-generated", is_verified=False) for _ in range(3))
        client = login(curator)
        filters = client.get(reverse("cases:review")).context["review_filters"]
        response = client.post(
            reverse("cases:bulk") + "?confirmed=1",
            {"action": "verify", "target": "selected", "ids": [a.pk, b.pk], "filters": filters},
        )
        assert response.status_code == 302
        assert [TestCase.objects.get(pk=x.pk).is_verified for x in (a, b, c)] == [
            True,
            True,
            False,
        ]

    def test_approve_all_in_the_queue(self, login, curator, make_case):
        pending = [make_case(origin="ai-generated", is_verified=False) for _ in range(3)]
        human_unverified = make_case(is_verified=False)
        client = login(curator)
        filters = client.get(reverse("cases:review")).context["review_filters"]
        assert bulk(client, "verify", target="all", filters=filters).status_code == 302
        assert all(TestCase.objects.get(pk=c.pk).is_verified for c in pending)
        assert not TestCase.objects.get(pk=human_unverified.pk).is_verified

    def test_reject_deletes(self, login, curator, make_case):
        case = make_case(origin="ai-generated", is_verified=False)
        client = login(curator)
        filters = client.get(reverse("cases:review")).context["review_filters"]
        bulk(client, "delete", ids=[case.pk], filters=filters)
        assert not TestCase.objects.exists()

    def test_viewer_sees_no_buttons(self, login, viewer, make_case):
        make_case(origin="ai-generated", is_verified=False)
        body = login(viewer).get(reverse("cases:review")).content.decode()
        assert "Approve" not in body

    def test_query_count_is_bounded(self, login, curator, make_case, django_assert_max_num_queries):
        for _ in range(20):
            make_case(origin="ai-generated", is_verified=False)
        client = login(curator)
        with django_assert_max_num_queries(8):
            assert len(client.get(reverse("cases:review")).context["page"]) == 20
