"""Case revisions: every write path keeps the previous content (the triggers of migration
0001), with who and which fields; the history card and restore."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from cases.models import TestCase
from versions import revisions
from versions.models import CaseRevision


def kept(case) -> list[CaseRevision]:
    return list(CaseRevision.objects.filter(case_id=case.pk).order_by("revision"))


def case_post(**overrides) -> dict:
    data = {
        "model_type": "nlp",
        "category": "sentiment",
        "input_type": "text",
        "input_format": "",
        "input_data": '{"text": "The kettle is great, I love it.", "lang": "en"}',
        "output_type": "classification",
        "ground_truth": '{"label": "positive"}',
        "tags": "en, reviews",
        "difficulty": "easy",
        "origin": "human",
        "is_verified": "true",
        "metadata": '{"source": "tests"}',
    }
    return {**data, **overrides}


@pytest.mark.django_db
class TestWritePaths:
    def test_form_edit_keeps_the_old_content_with_author_and_fields(
        self, login, curator, make_case
    ):
        case = make_case()
        response = login(curator).post(
            reverse("cases:edit", args=[case.pk]),
            case_post(ground_truth='{"label": "negative"}', category="irony"),
        )
        assert response.status_code == 302
        [revision] = kept(case)
        assert revision.revision == 1 and revision.kind == "update"
        assert revision.ground_truth == {"label": "positive"} and revision.category == "sentiment"
        assert sorted(revision.changed_fields) == ["category", "ground_truth"]
        assert revision.changed_by == curator
        assert revisions.live_revision(case.pk) == 2

    def test_saving_unchanged_content_keeps_no_revision(self, login, curator, make_case):
        case = make_case()
        login(curator).post(reverse("cases:edit", args=[case.pk]), case_post())
        case.save()  # a plain save of the same content
        TestCase.objects.filter(pk=case.pk).update(metadata={"note": "not content"})
        assert kept(case) == []
        assert revisions.live_revision(case.pk) == 1

    def test_api_patch_names_the_token_user(self, curator, make_case):
        case = make_case()
        _, raw = ApiToken.objects.issue(curator, "tests")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        url = f"/api/v1/cases/{case.pk}/"
        response = client.patch(url, json.dumps({"tags": ["a"]}), content_type="application/json")
        assert response.status_code == 200, response.content
        [revision] = kept(case)
        assert revision.tags == ["en", "reviews"] and revision.changed_fields == ["tags"]
        assert revision.changed_by == curator

    def test_bulk_action_is_one_revision_per_changed_case(self, login, curator, make_case):
        cases = [make_case(is_verified=False) for _ in range(3)]
        already = make_case(is_verified=True)
        client = login(curator)
        client.post(
            reverse("cases:bulk"),
            {
                "action": "verify",
                "target": "selected",
                "ids": ",".join(str(c.pk) for c in [*cases, already]),
                "filters": "scope=all",
                "confirmed": "1",
            },
        )
        assert all(TestCase.objects.get(pk=c.pk).is_verified for c in cases)
        for case in cases:
            [revision] = kept(case)
            assert revision.is_verified is False and revision.changed_fields == ["is_verified"]
            assert revision.changed_by == curator
        assert kept(already) == []

    def test_review_queue_approve(self, login, curator, make_case):
        case = make_case(origin="ai-generated", is_verified=False)
        client = login(curator)
        filters = client.get(reverse("cases:review")).context["review_filters"]
        client.post(
            reverse("cases:bulk") + "?confirmed=1",
            {"action": "verify", "target": "selected", "ids": [case.pk], "filters": filters},
        )
        [revision] = kept(case)
        assert revision.is_verified is False and revision.origin == "ai-generated"

    def test_admin_action(self, login, admin_user, make_case):
        case = make_case(is_verified=False)
        login(admin_user).post(
            reverse("admin:cases_testcase_changelist"),
            {"action": "mark_verified", "_selected_action": [case.pk]},
        )
        [revision] = kept(case)
        assert revision.changed_fields == ["is_verified"]
        assert revision.changed_by == admin_user

    def test_raw_sql_and_delete(self, make_case):
        case = make_case()
        with connection.cursor() as cursor:
            cursor.execute(
                'UPDATE test_cases SET ground_truth = \'{"label": "neutral"}\' WHERE id = %s',
                [case.pk],
            )
        TestCase.objects.filter(pk=case.pk).delete()
        first, last = kept(case)
        assert (first.revision, first.kind, first.changed_by) == (1, "update", None)
        assert first.ground_truth == {"label": "positive"}
        assert (last.revision, last.kind, last.ground_truth) == (2, "delete", {"label": "neutral"})

    def test_import_writes_revision_one(self, make_case, tmp_path):
        from django.core.management import call_command

        path = tmp_path / "cases.jsonl"
        path.write_text(
            json.dumps(
                {
                    "input_data": {"text": "x"},
                    "input_type": "text",
                    "ground_truth": {"label": "a"},
                    "output_type": "classification",
                }
            )
            + "\n"
        )
        call_command("import_cases", str(path), stdout=open("/dev/null", "w"))
        case = TestCase.objects.get()
        assert revisions.live_revision(case.pk) == 1 and kept(case) == []


@pytest.mark.django_db
class TestHistoryAndRestore:
    def test_history_lists_field_diffs_newest_first(self, make_case):
        case = make_case()
        TestCase.objects.filter(pk=case.pk).update(category="a")
        TestCase.objects.filter(pk=case.pk).update(category="b", difficulty="hard")
        live, entries = revisions.history(case.pk)
        assert live == 3
        assert [e.revision.revision for e in entries] == [2, 1]
        assert entries[0].changes == [("category", "a", "b"), ("difficulty", "easy", "hard")]
        assert entries[1].changes == [("category", "sentiment", "a")]

    def test_card_and_restore(self, login, curator, viewer, make_case):
        case = make_case()
        TestCase.objects.filter(pk=case.pk).update(ground_truth={"label": "negative"})
        card = login(viewer).get(reverse("versions:case-revisions", args=[case.pk]))
        assert "ground_truth" in card.content.decode() and "Restore" not in card.content.decode()
        url = reverse("versions:case-restore", args=[case.pk, 1])
        assert login(viewer).post(url).status_code == 403
        body = login(curator).get(reverse("versions:case-revisions", args=[case.pk]))
        assert "Restore revision 1" in body.content.decode()
        assert login(curator).post(url).status_code == 302
        case.refresh_from_db()
        assert case.ground_truth == {"label": "positive"}
        assert revisions.live_revision(case.pk) == 3  # restoring is a revision too
        assert kept(case)[-1].ground_truth == {"label": "negative"}

    def test_case_page_loads_the_card(self, login, viewer, make_case):
        case = make_case()
        body = login(viewer).get(reverse("cases:detail", args=[case.pk])).content.decode()
        assert reverse("versions:case-revisions", args=[case.pk]) in body


@pytest.mark.django_db
def test_import_update_on_conflict_keeps_revisions(make_case, tmp_path):
    """An import that updates known external ids (--on-conflict update) is a write path too."""
    from django.core.management import call_command

    case = make_case(external_id="ext-1")
    path = tmp_path / "cases.jsonl"
    row = {
        "external_id": "ext-1",
        "input_data": {"text": "The kettle is great, I love it.", "lang": "en"},
        "input_type": "text",
        "ground_truth": {"label": "negative"},
        "output_type": "classification",
    }
    path.write_text(json.dumps(row) + "\n")
    call_command(
        "import_cases", str(path), "--on-conflict", "update", stdout=open("/dev/null", "w")
    )
    assert TestCase.objects.get(pk=case.pk).ground_truth == {"label": "negative"}
    [revision] = kept(case)
    assert (
        revision.ground_truth == {"label": "positive"} and "ground_truth" in revision.changed_fields
    )
