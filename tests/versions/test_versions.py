"""Versions: freezing a selection, immutability against case edits and deletes and direct SQL,
the pages (list, detail, export, diff) and the freeze_version command."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from cases.models import TestCase
from cases.selection import SelectionError
from jobs.signals import ANALYZE_MIN_ROWS
from tests.baker_recipes import case
from versions import freezing
from versions.models import Version, VersionCaseContent


def contents(version) -> dict[int, VersionCaseContent]:
    return {row.case_id: row for row in VersionCaseContent.objects.filter(version=version)}


@pytest.mark.django_db
class TestFreeze:
    def test_freezes_the_selection_at_current_revisions(self, make_case, curator):
        nlp = [make_case(), make_case()]
        make_case(model_type="tabular")
        make_case(is_verified=False)  # outside the golden set
        version = freezing.freeze(
            "nlp v1", selection={"model_type": "nlp"}, description="d", created_by=curator
        )
        assert version.case_count == 2
        assert set(contents(version)) == {c.pk for c in nlp}
        assert Version.objects.get(pk=version.pk).case_count == 2

    def test_name_taken_blank_or_nothing_selected_writes_nothing(self, make_case):
        make_case()
        freezing.freeze("v1", selection={})
        with pytest.raises(ValidationError):
            freezing.freeze("v1", selection={})
        with pytest.raises(ValidationError):
            freezing.freeze("  ", selection={})
        with pytest.raises(SelectionError):
            freezing.freeze("v2", selection={"model_type": "nothing-here"})
        with pytest.raises(SelectionError):
            freezing.freeze("v3", selection={"difficulty": "impossible"})
        assert list(Version.objects.values_list("name", flat=True)) == ["v1"]

    def test_unchanged_after_its_cases_are_edited_and_deleted(self, make_case):
        edited, deleted, kept = make_case(), make_case(), make_case()
        version = freezing.freeze("v1", selection={})
        TestCase.objects.filter(pk=edited.pk).update(ground_truth={"label": "negative"})
        TestCase.objects.filter(pk=edited.pk).update(category="irony")
        TestCase.objects.filter(pk=deleted.pk).update(tags=["changed"])
        TestCase.objects.filter(pk=deleted.pk).delete()
        rows = contents(version)
        assert set(rows) == {edited.pk, deleted.pk, kept.pk}
        assert rows[edited.pk].ground_truth == {"label": "positive"}
        assert rows[edited.pk].category == "sentiment" and rows[edited.pk].edited
        assert rows[deleted.pk].deleted and rows[deleted.pk].tags == ["en", "reviews"]
        assert not rows[kept.pk].edited and not rows[kept.pk].deleted
        export = list(json.loads(line) for line in freezing_export(version, "jsonl"))
        assert [r["id"] for r in export] == sorted([edited.pk, deleted.pk, kept.pk])
        assert next(r for r in export if r["id"] == deleted.pk)["tags"] == ["en", "reviews"]

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE version_cases SET revision = revision + 1",
            "DELETE FROM version_cases",
            "UPDATE versions SET name = 'other'",
            "UPDATE versions SET case_count = 7",
            "DELETE FROM versions",
        ],
    )
    def test_the_database_refuses_edits(self, make_case, sql):
        make_case()
        freezing.freeze("v1", selection={})
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)

    def test_command_prints_the_id_last(self, make_case):
        make_case(category="a")
        make_case(category="b")
        out = StringIO()
        call_command(
            "freeze_version", "golden v1", "--category", "a", "--description", "x", stdout=out
        )
        version = Version.objects.get(pk=int(out.getvalue().splitlines()[-1]))
        assert (version.name, version.description, version.case_count) == ("golden v1", "x", 1)
        with pytest.raises(CommandError, match="exists already"):
            call_command("freeze_version", "golden v1", stdout=out)

    def test_a_big_freeze_leaves_its_partition_analyzed(self, django_capture_on_commit_callbacks):
        case.make(_quantity=ANALYZE_MIN_ROWS, _bulk_create=True)
        with django_capture_on_commit_callbacks(execute=True):
            big = freezing.freeze("big", selection={})
            small = freezing.freeze("small", selection={"ids": [TestCase.objects.first().pk]})
        # The primary key's build counts the rows; only ANALYZE writes column statistics.
        assert analyzed_columns(f"version_cases_{big.pk}") == {"case_id", "revision", "version_id"}
        assert analyzed_columns(f"version_cases_{small.pk}") == set()  # left to autovacuum


def analyzed_columns(table: str) -> set[str]:
    """The table's columns with planner statistics (pg_stats: what ANALYZE wrote)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_stats WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


def freezing_export(version, fmt):
    from django.db.models import F

    from cases.exporting import export_lines

    return export_lines(
        VersionCaseContent.objects.filter(version=version).annotate(id=F("case_id")), fmt
    )


@pytest.mark.django_db
class TestDiff:
    def test_added_removed_changed_with_fields(self, make_case):
        same, edited, removed, restored = (make_case() for _ in range(4))
        a = freezing.freeze("a", selection={})
        TestCase.objects.filter(pk=edited.pk).update(
            ground_truth={"label": "negative"}, difficulty="hard"
        )
        TestCase.objects.filter(pk=restored.pk).update(category="x")
        TestCase.objects.filter(pk=restored.pk).update(category="sentiment")
        TestCase.objects.filter(pk=removed.pk).delete()
        added = make_case()
        b = freezing.freeze("b", selection={})
        result = freezing.diff(a, b).as_json()
        assert result["added"] == [added.pk] and result["removed"] == [removed.pk]
        changed = {row["case_id"]: row for row in result["changed"]}
        assert set(changed) == {edited.pk, restored.pk}
        assert changed[edited.pk]["fields"] == ["ground_truth", "difficulty"]
        assert (changed[edited.pk]["from"], changed[edited.pk]["to"]) == (1, 2)
        assert changed[restored.pk]["fields"] == []
        assert result["counts"] == {"added": 1, "removed": 1, "changed": 2, "unchanged": 1}
        reverse_diff = freezing.diff(b, a)
        assert reverse_diff.added == [removed.pk] and reverse_diff.removed == [added.pk]

    def test_pages(self, login, viewer, curator, make_case):
        case = make_case()
        client = login(curator)
        form = client.get(reverse("versions:create") + "?model_type=nlp")
        assert form.context["count"] == 1
        response = client.post(
            reverse("versions:create") + "?model_type=nlp", {"name": "v1", "description": ""}
        )
        a = Version.objects.get(name="v1")
        assert response["Location"] == a.get_absolute_url()
        assert login(viewer).post(reverse("versions:create"), {"name": "v9"}).status_code == 403
        TestCase.objects.filter(pk=case.pk).update(category="new")
        b = freezing.freeze("v2", selection={})
        viewer_client = login(viewer)
        assert "v1" in viewer_client.get(reverse("versions:list")).content.decode()
        detail = viewer_client.get(a.get_absolute_url())
        assert detail.context["rows"][0].category == "sentiment"
        csv_body = b"".join(
            viewer_client.get(a.get_absolute_url() + "?format=csv").streaming_content
        )
        assert b"sentiment" in csv_body and b"new" not in csv_body
        page = viewer_client.get(reverse("versions:diff") + f"?a={a.pk}&b={b.pk}")
        assert "category" in page.content.decode()
        data = viewer_client.get(reverse("versions:diff") + f"?a={a.pk}&b={b.pk}&format=json")
        assert data.json()["changed"][0]["fields"] == ["category"]
        assert viewer_client.get(reverse("versions:diff") + "?a=x").status_code == 400
