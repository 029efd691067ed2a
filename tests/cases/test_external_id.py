"""External ids: unique when set, upserted on by import (file, page, command) and the API, kept by
export, and what a response line may name its case by."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from model_bakery import baker

from cases.exporting import export_lines
from cases.importing import import_cases
from cases.models import TestCase
from cases.validation import FIELDS


def case(external_id=None, label="positive", **overrides) -> dict:
    record = {
        "input_data": {"text": f"text of {external_id}"},
        "input_type": "text",
        "ground_truth": {"label": label},
        "output_type": "classification",
        **overrides,
    }
    if external_id is not None:
        record["external_id"] = external_id
    return record


def jsonl(*records) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def run(data: bytes, **options):
    return import_cases(
        io.BytesIO(data), file_format=options.pop("file_format", "jsonl"), **options
    )


def snapshot() -> list[tuple]:
    return list(TestCase.objects.order_by("id").values_list("id", *FIELDS, "updated_at"))


@pytest.mark.django_db
class TestModel:
    def test_unique_when_set_and_any_number_unset(self):
        baker.make(TestCase, input_type="t", output_type="o", ground_truth={}, _quantity=3)
        baker.make(TestCase, input_type="t", output_type="o", ground_truth={}, external_id="a")
        with pytest.raises(IntegrityError), transaction.atomic():
            baker.make(TestCase, input_type="t", output_type="o", ground_truth={}, external_id="a")
        assert TestCase.objects.filter(external_id__isnull=True).count() == 3

    def test_empty_string_is_refused_by_the_database(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            baker.make(TestCase, input_type="t", output_type="o", ground_truth={}, external_id="")


@pytest.mark.django_db
class TestImport:
    def test_a_second_import_of_the_same_file_is_an_error_by_default(self):
        data = jsonl(case("r1"), case("r2"), case())
        assert run(data).imported == 3
        again = run(data)
        assert not again.ok and again.imported == 0
        assert again.errors[0].field == "external_id" and "'r1'" in again.errors[0].message
        assert "skip" in again.errors[0].message and TestCase.objects.count() == 3

    def test_skip_keeps_stored_cases_and_imports_the_new_ones(self):
        run(jsonl(case("r1"), case("r2")))
        before = snapshot()
        report = run(jsonl(case("r1", label="negative"), case("r3"), case()), on_conflict="skip")
        assert report.ok and (report.imported, report.skipped, report.updated) == (2, 1, 0)
        assert report.summary() == (
            "imported 2 cases (0 existing updated, 1 existing left as they were)"
        )
        assert snapshot()[:2] == before  # r1 keeps its label and updated_at
        assert list(TestCase.objects.order_by("id").values_list("external_id", flat=True)) == [
            "r1",
            "r2",
            "r3",
            None,
        ]

    def test_update_changes_only_what_differs(self):
        run(jsonl(case("r1"), case("r2")))
        r2_before = TestCase.objects.get(external_id="r2")
        report = run(
            jsonl(case("r1", label="negative", tags=["new"]), case("r2"), case("r3")),
            on_conflict="update",
        )
        assert report.ok and (report.imported, report.updated, report.skipped) == (1, 1, 1)
        r1 = TestCase.objects.get(external_id="r1")
        assert r1.ground_truth == {"label": "negative"} and r1.tags == ["new"]
        r2 = TestCase.objects.get(external_id="r2")
        assert r2.updated_at == r2_before.updated_at  # unchanged: fingerprints stay equal
        assert r1.updated_at > r2.updated_at
        assert TestCase.objects.count() == 3

    def test_a_bad_line_writes_nothing_even_with_update(self):
        run(jsonl(case("r1")))
        report = run(
            jsonl(case("r1", label="negative"), case("r2", input_type="")), on_conflict="update"
        )
        assert not report.ok and report.imported == report.updated == 0
        assert TestCase.objects.get().ground_truth == {"label": "positive"}

    def test_duplicates_in_one_file_and_bad_values_are_named_by_line(self):
        report = run(
            jsonl(case("r1"), case(" r2"), case("r1"), case(["x"]), case("x" * 201)), dry_run=True
        )
        assert [(e.line, e.field) for e in report.errors] == [(2, "external_id")] + [
            (line, "external_id") for line in (3, 4, 5)
        ]
        assert "line 1" in report.errors[1].message

    def test_integer_external_ids_become_their_digits(self):
        assert run(jsonl(case(17), case(""))).imported == 2
        assert sorted(TestCase.objects.values_list("external_id", flat=True), key=str) == [
            "17",
            None,
        ]

    @pytest.mark.parametrize("file_format", ["jsonl", "csv"])
    def test_export_round_trip_keeps_external_ids_and_reimport_updates_nothing(self, file_format):
        run(jsonl(case("r1", tags=["a", "b"]), case(), case("r3", metadata={"k": 1})))
        before = snapshot()
        data = "".join(export_lines(TestCase.objects.all(), file_format)).encode()
        report = run(data, file_format=file_format, on_conflict="update")
        assert report.ok, [str(e) for e in report.errors]
        # the two cases with an external_id are found and unchanged; the other comes in again
        assert (report.imported, report.updated, report.skipped) == (1, 0, 2)
        assert snapshot()[:3] == before
        TestCase.objects.all().delete()
        assert run(data, file_format=file_format).imported == 3
        assert [row[1:-1] for row in snapshot()] == [row[1:-1] for row in before]

    def test_exported_jsonl_names_the_external_id(self):
        run(jsonl(case("r1"), case()))
        rows = [json.loads(line) for line in export_lines(TestCase.objects.all(), "jsonl")]
        assert [row["external_id"] for row in rows] == ["r1", None]


@pytest.mark.django_db
class TestCommand:
    def test_on_conflict_flag(self, tmp_path):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(jsonl(case("r1"), case("r2")))
        out = io.StringIO()
        call_command("import_cases", str(path), stdout=out)
        with pytest.raises(CommandError, match="external_id"):
            call_command("import_cases", str(path), stdout=io.StringIO(), stderr=io.StringIO())
        out = io.StringIO()
        call_command("import_cases", str(path), "--on-conflict", "skip", stdout=out)
        assert out.getvalue().startswith("imported 0 cases")
        assert TestCase.objects.count() == 2

    def test_unknown_choice_is_refused(self, tmp_path):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(jsonl(case("r1")))
        with pytest.raises(CommandError):
            call_command("import_cases", str(path), "--on-conflict", "merge")
