"""Export: the filtered selection, streamed as JSONL or CSV, and re-importable to the same cases."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from cases.exporting import export_lines
from cases.importing import import_cases
from cases.models import TestCase
from cases.validation import FIELDS


@pytest.fixture
def varied(make_case, curator):
    """Cases that stress the formats: unicode, quotes, commas, newlines, numbers, empty fields."""
    return [
        make_case(
            input_data={"text": 'She said "hi", then left;\nline two', "lang": "en", "n": 1.5},
            ground_truth={"label": "neutral"},
            category="quotes, commas",
            tags=["en", "tricky"],
            metadata={"source": "tests", "nested": {"a": [1, 2.25, None, True]}},
            created_by=curator,
        ),
        make_case(
            input_type="image_path",
            input_format="file_path",
            input_data={"image_path": "s3://b/ü.jpg", "width": 10**15},
            output_type="bounding_boxes",
            ground_truth={"boxes": [{"label": "car", "bbox": [0.5, 1, 20, 30.75]}]},
            model_type="computer_vision",
            category="",
            tags=[],
            difficulty="",
            metadata={},
        ),
        make_case(
            origin="ai-generated",
            is_verified=False,
            input_data={"prompt": "日本語のテキスト"},
            ground_truth="a bare string answer",
            output_type="structured",
            model_type="llm",
            tags=["synthetic"],
        ),
    ]


def snapshot() -> list[tuple]:
    return list(TestCase.objects.order_by("id").values_list(*FIELDS))


@pytest.mark.django_db
class TestRoundTrip:
    @pytest.mark.parametrize("file_format", ["jsonl", "csv"])
    def test_export_then_import_gives_the_same_cases(self, varied, file_format):
        before = snapshot()
        data = "".join(export_lines(TestCase.objects.all(), file_format)).encode()
        TestCase.objects.all().delete()
        report = import_cases(io.BytesIO(data), file_format=file_format)
        assert report.ok, [str(e) for e in report.errors]
        assert snapshot() == before

    def test_jsonl_lines_are_json_with_the_id(self, varied):
        lines = list(export_lines(TestCase.objects.all(), "jsonl"))
        rows = [json.loads(line) for line in lines]
        assert [row["id"] for row in rows] == [case.pk for case in varied]
        assert list(rows[0]) == ["id", *FIELDS]
        assert rows[0]["input_data"]["text"].endswith("line two")

    def test_csv_conventions(self, varied):
        header, first, *_ = export_lines(TestCase.objects.all(), "csv")
        assert header.strip() == ",".join(["id", *FIELDS])
        assert "en;tricky" in first and ",true," in first


@pytest.mark.django_db
class TestExportPage:
    def test_streams_the_filtered_selection(self, login, viewer, varied):
        response = login(viewer).get(reverse("cases:export"), {"format": "jsonl"})
        assert response.streaming and response["Content-Type"].startswith("application/x-ndjson")
        assert "attachment" in response["Content-Disposition"]
        rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        assert {row["id"] for row in rows} == {varied[0].pk, varied[1].pk}  # the golden set

    def test_widened_csv(self, login, viewer, varied):
        response = login(viewer).get(
            reverse("cases:export"), {"format": "csv", "scope": "all", "tags": "synthetic"}
        )
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) == 2 and lines[1].startswith(f"{varied[2].pk},")

    def test_page_without_format_shows_the_count(self, login, viewer, varied):
        body = login(viewer).get(reverse("cases:export"), {"scope": "all"}).content.decode()
        assert "<strong>3</strong> cases" in body and "Widened to every case" in body
        assert "format=csv" in body and "format=jsonl" in body

    def test_query_count_is_bounded(self, login, viewer, varied, django_assert_max_num_queries):
        client = login(viewer)
        with django_assert_max_num_queries(7):
            response = client.get(reverse("cases:export"), {"format": "jsonl", "scope": "all"})
            assert len(b"".join(response.streaming_content).splitlines()) == 3

    def test_outsider_refused(self, login, outsider):
        assert login(outsider).get(reverse("cases:export"), {"format": "csv"}).status_code == 403


@pytest.mark.django_db
class TestCommand:
    def test_golden_set_by_default(self, tmp_path, varied):
        path = tmp_path / "out.jsonl"
        out = io.StringIO()
        call_command("export_cases", str(path), stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == "exported 2 cases"
        assert len(path.read_text().splitlines()) == 2

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["--all"], 3),
            (["--unverified"], 1),
            (["--origin", "ai-generated"], 1),
            (["--tag", "tricky", "--tag", "synthetic", "--all"], 2),
            (["--model-type", "computer_vision"], 1),
            (["--category", "quotes, commas"], 1),
        ],
    )
    def test_filters_as_flags(self, tmp_path, varied, args, expected):
        path = tmp_path / "out.csv"
        out = io.StringIO()
        call_command("export_cases", str(path), *args, stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == f"exported {expected} cases"
        assert len(path.read_text().splitlines()) == expected + 1  # + the header

    def test_round_trip_through_the_commands(self, tmp_path, varied):
        path = tmp_path / "all.csv"
        before = snapshot()
        call_command("export_cases", str(path), "--all", stdout=io.StringIO())
        TestCase.objects.all().delete()
        out = io.StringIO()
        call_command("import_cases", str(path), stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == "imported 3 cases"
        assert snapshot() == before

    def test_unwritable_path(self, tmp_path, varied):
        with pytest.raises(CommandError, match="Cannot write"):
            call_command("export_cases", str(tmp_path / "no" / "such" / "dir.jsonl"))
