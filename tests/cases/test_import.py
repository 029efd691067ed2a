"""Importing cases: formats, defaults, every bad input named by line and field, all or nothing."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from cases.importing import import_cases
from cases.models import TestCase
from cases.validation import validate_record


def case(**overrides) -> dict:
    record = {
        "input_data": {"text": "The blender is great.", "lang": "en"},
        "input_type": "text",
        "ground_truth": {"label": "positive"},
        "output_type": "classification",
        "model_type": "nlp",
        "category": "sentiment",
        "tags": ["en", "reviews"],
        "difficulty": "easy",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


def jsonl(*records, raw_lines: dict[int, str] | None = None) -> bytes:
    lines = [json.dumps(r) for r in records]
    for line_no, text in (raw_lines or {}).items():
        lines[line_no - 1] = text
    return ("\n".join(lines) + "\n").encode()


def run(data: bytes, file_format: str = "jsonl", **options):
    return import_cases(io.BytesIO(data), file_format=file_format, **options)


def messages(report) -> list[str]:
    return [str(error) for error in report.errors]


@pytest.mark.django_db
class TestGoodFiles:
    def test_jsonl_with_defaults(self, curator):
        data = jsonl(
            case(),
            case(origin="ai-generated", tags=..., difficulty=..., id=99),
            case(origin="human", is_verified=False, metadata={"source": "x"}),
        )
        report = run(data, user_id=curator.pk)
        assert report.ok and report.imported == 3 and report.summary() == "imported 3 cases"
        first, second, third = TestCase.objects.order_by("id")
        assert first.is_verified and first.origin == "human" and first.metadata == {}
        assert second.origin == "ai-generated" and second.is_verified is False
        assert second.tags == [] and second.difficulty == "" and second.pk != 99
        assert third.is_verified is False and third.metadata == {"source": "x"}
        assert {c.created_by_id for c in (first, second, third)} == {curator.pk}
        assert TestCase.objects.filter(search_vector="blender").count() == 3

    def test_utf8_with_a_byte_order_mark(self):
        report = run(b"\xef\xbb\xbf" + jsonl(case(input_data={"text": "café ☕"})))
        assert report.ok
        assert TestCase.objects.get().input_data["text"] == "café ☕"

    @pytest.mark.parametrize("file_format", ["csv", "json"])
    def test_byte_order_mark_in_csv_and_json(self, file_format):
        data = {
            "csv": b'input_data,input_type,ground_truth,output_type\n{},text,"""a""",text\n',
            "json": json.dumps([case()]).encode(),
        }[file_format]
        report = run(b"\xef\xbb\xbf" + data, file_format)
        assert report.ok and report.imported == 1, messages(report)

    def test_blank_lines_are_skipped(self):
        report = run(jsonl(case()) + b"\n  \n" + jsonl(case()))
        assert report.ok and report.imported == 2

    def test_csv(self):
        data = (
            b"id,input_data,input_type,ground_truth,output_type,tags,is_verified,origin,metadata\n"
            b'7,"{""text"": ""hi, there""}",text,"{""label"": ""a""}",classification,en;short,'
            b"false,human,\n"
            b'8,"{""text"":\n""two lines""}",text,"""yes""",classification,,,ai-generated,{}\n'
        )
        report = run(data, "csv")
        assert report.ok, messages(report)
        first, second = TestCase.objects.order_by("id")
        assert first.input_data == {"text": "hi, there"} and first.tags == ["en", "short"]
        assert first.is_verified is False and first.metadata == {}
        assert second.input_data == {"text": "two lines"} and second.ground_truth == "yes"
        assert second.origin == "ai-generated" and second.is_verified is False

    def test_csv_lines_count_records_over_several_lines(self):
        data = (
            b"input_data,input_type,ground_truth,output_type\n"
            b'"{\n""a"": 1}",text,"""x""",text\n'
            b"{},text,,text\n"
        )
        assert messages(run(data, "csv")) == ["line 4, ground_truth: missing (required)"]

    def test_json_array(self):
        records = [case(category=f"c{i}") for i in range(3)]
        report = run(json.dumps(records, indent=2).encode(), "json")
        assert report.ok and report.imported == 3
        assert list(TestCase.objects.order_by("id").values_list("category", flat=True)) == [
            "c0",
            "c1",
            "c2",
        ]

    def test_json_array_in_small_chunks(self, monkeypatch):
        from cases import readers

        monkeypatch.setattr(readers, "CHUNK", 7)  # elements cut across many reads
        records = [case(input_data={"text": "x" * (i * 13)}) for i in range(20)]
        report = run(json.dumps(records, indent=1).encode(), "json")
        assert report.ok and report.imported == 20

    def test_forced_origin(self):
        report = run(jsonl(case(), case(origin="ai-generated")), origin="ai-generated")
        assert report.ok
        assert set(TestCase.objects.values_list("origin", "is_verified")) == {
            ("ai-generated", False)
        }

    def test_dry_run_writes_nothing_and_previews(self):
        report = run(jsonl(*(case(category=f"c{i}") for i in range(15))), dry_run=True)
        assert report.ok and report.summary() == "would import 15 cases"
        assert not TestCase.objects.exists()
        assert len(report.preview) == 10
        assert report.preview[0]["line"] == 1 and report.preview[0]["origin"] == "human"
        assert report.preview[0]["is_verified"] is True and report.preview[0]["metadata"] == {}
        assert report.counts["golden"] == 15

    def test_progress_is_reported(self, monkeypatch):
        from cases import importing

        monkeypatch.setattr(importing, "PROGRESS_EVERY", 2)
        calls = []
        run(jsonl(*(case() for _ in range(5))), on_progress=lambda r, b: calls.append((r, b)))
        assert calls[-1][0] == 5 and calls[-1][1] > 0 and len(calls) >= 3


def bad_inputs():
    good = [case() for _ in range(40)]
    many = jsonl(*(case() for _ in range(10_000)))
    yield (
        "malformed JSON at line 37",
        jsonl(*good, raw_lines={37: '{"input_data": {"text": "hi"}, "input_type": "text",'}),
        "jsonl",
        "line 37: malformed JSON",
    )
    missing = [*good[:4], case(ground_truth=...), *good[5:]]
    yield (
        "missing ground_truth at line 5",
        jsonl(*missing),
        "jsonl",
        "line 5, ground_truth: missing",
    )
    yield (
        "tags not a list",
        jsonl(case(), case(tags="en,short")),
        "jsonl",
        "line 2, tags: must be a list of strings, got string",
    )
    yield (
        'origin "robot"',
        jsonl(case(origin="robot")),
        "jsonl",
        "line 1, origin: 'robot' is not one of human, ai-generated",
    )
    yield (
        "an object for origin",
        jsonl(case(origin={"by": "model"})),
        "jsonl",
        "line 1, origin: must be a string, got object",
    )
    yield (
        "a list for difficulty",
        jsonl(case(), case(difficulty=["hard"])),
        "jsonl",
        "line 2, difficulty: must be a string, got array",
    )
    yield "an empty file", b"", "jsonl", "line 1: the file is empty"
    yield "an empty CSV", b"", "csv", "line 2: the file is empty"
    yield (
        "a CSV cell with broken JSON",
        b'input_data,input_type,ground_truth,output_type\n{"text": "ok"},text,"{""label"": 1}",'
        b"structured\n"
        b'"{""text"": ""broken}",text,"{""label"": ""x""}",classification\n',
        "csv",
        "line 3, input_data: not valid JSON",
    )
    yield (
        "10,000 good lines and one bad line at the end",
        many + jsonl(case(input_data=["not", "an", "object"])),
        "jsonl",
        "line 10001, input_data: must be a JSON object, got array",
    )
    yield (
        "a classification without a label",
        jsonl(case(ground_truth={"labl": "cat"})),
        "jsonl",
        'line 1, ground_truth: needs "label" (a string, integer or boolean) for output_type '
        "classification",
    )
    yield (
        "a detection box without 4 numbers",
        jsonl(case(output_type="bounding_boxes", ground_truth={"boxes": [{"bbox": [1, 2]}]})),
        "jsonl",
        'box 0 "bbox" must be an array of 4 numbers',
    )
    yield (
        "an unknown field",
        jsonl(case(groundtruth={"label": "x"})),
        "jsonl",
        "line 1, groundtruth: unknown field",
    )
    yield (
        "a NUL character",
        jsonl(case(input_data={"text": "a\u0000b"})),
        "jsonl",
        "line 1, input_data: contains the character \\u0000",
    )
    yield (
        "NaN",
        jsonl(case(), raw_lines={1: '{"input_data": {"x": NaN}}'}),
        "jsonl",
        "line 1: malformed JSON: NaN is not valid JSON",
    )
    yield "not UTF-8", jsonl(case()) + b'{"a": "\xff"}\n', "jsonl", "line 2: not valid UTF-8"
    yield (
        "a JSON array element on line 4",
        b'[\n  {"input_data": {}, "input_type": "t", "ground_truth": 1, "output_type": "x"},\n\n'
        b'  {"input_data": {}, "input_type": "t", "output_type": "x"}\n]',
        "json",
        "line 4, ground_truth: missing",
    )
    yield (
        "broken JSON inside an array",
        b'[\n  {"input_data": {},\n   "input_type": "t" "x"}\n]',
        "json",
        "line 3: malformed JSON: Expecting ',' delimiter",
    )
    yield "a JSON object instead of an array", b'{"a": 1}', "json", "line 1: a .json file must"
    yield (
        "a CSV without a required column",
        b"input_data,input_type,output_type\n{},text,x\n",
        "csv",
        "line 1, ground_truth: required column missing",
    )
    yield (
        "a difficulty outside the choices",
        jsonl(case(difficulty="trivial")),
        "jsonl",
        "line 1, difficulty: 'trivial' is not one of easy, medium, hard",
    )


@pytest.mark.django_db
class TestBadInputs:
    @pytest.mark.parametrize(
        ("data", "file_format", "expected"),
        [pytest.param(*rest, id=name) for name, *rest in bad_inputs()],
    )
    def test_named_by_line_and_field_and_nothing_written(
        self, make_case, data, file_format, expected
    ):
        existing = make_case()
        report = run(data, file_format)
        assert not report.ok and report.imported == 0
        assert any(expected in message for message in messages(report)), messages(report)
        assert list(TestCase.objects.values_list("pk", flat=True)) == [existing.pk]

    def test_every_error_is_reported(self):
        report = run(jsonl(case(origin="robot", tags=5), case(), case(difficulty="x")))
        assert messages(report) == [
            "line 1, tags: must be a list of strings, got number",
            "line 1, origin: 'robot' is not one of human, ai-generated",
            "line 3, difficulty: 'x' is not one of easy, medium, hard",
        ]
        assert report.rows == 3 and report.valid == 1

    def test_a_contradicting_origin(self):
        report = run(jsonl(case(origin="human")), origin="ai-generated")
        assert messages(report) == [
            "line 1, origin: 'human' contradicts the import's origin ai-generated"
        ]


def test_validate_record_is_the_forms_and_apis_rule():
    values, errors = validate_record(case(tags=[" en "]))
    assert errors == [] and values["tags"] == ["en"] and values["is_verified"] is True
    values, errors = validate_record({"input_type": "text"})
    assert values is None
    assert {e.field for e in errors} == {"input_data", "ground_truth", "output_type"}


@pytest.mark.parametrize(
    "tag, record_message, bulk_message",
    [
        ("   ", "tag 1 is empty", "Give the tag to add or remove."),
        (
            "x" * 51,
            f"tag {'x' * 51!r} is longer than 50 characters",
            "A tag is longer than 50 characters.",
        ),
        ("a;b", "tag 'a;b' may not contain ',' or ';'", "A tag may not contain ',' or ';'."),
        ("a,b", "tag 'a,b' may not contain ',' or ';'", "A tag may not contain ',' or ';'."),
    ],
)
def test_one_tag_rule_for_records_and_bulk_tag_actions(tag, record_message, bulk_message):
    """The import, form and API (validate_record) and the bulk tag actions refuse the same tags."""
    from cases.curation import BulkAction, check_value

    values, errors = validate_record(case(tags=[tag]))
    assert values is None and [(e.field, e.message) for e in errors] == [("tags", record_message)]
    for action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG):
        assert check_value(action, tag) == bulk_message
    assert check_value(BulkAction.ADD_TAG, " " + "x" * 50 + " ") is None
    assert validate_record(case(tags=[" " + "x" * 50 + " "]))[0]["tags"] == ["x" * 50]


@pytest.mark.django_db
class TestCommand:
    def test_imports_and_says_so(self, tmp_path, curator):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(jsonl(case(), case()))
        out = io.StringIO()
        call_command(
            "import_cases", str(path), "--user", "curator", stdout=out, stderr=io.StringIO()
        )
        assert out.getvalue().strip().splitlines()[-1] == "imported 2 cases"
        assert TestCase.objects.filter(created_by=curator).count() == 2

    def test_dry_run(self, tmp_path):
        path = tmp_path / "cases.csv"
        path.write_bytes(b'input_data,input_type,ground_truth,output_type\n{},text,"""a""",text\n')
        out = io.StringIO()
        call_command("import_cases", str(path), "--dry-run", stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == "would import 1 cases"
        assert not TestCase.objects.exists()

    def test_bad_file_exits_with_the_line(self, tmp_path):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(jsonl(case(), case(ground_truth=...)))
        err = io.StringIO()
        with pytest.raises(CommandError) as error:
            call_command("import_cases", str(path), stdout=io.StringIO(), stderr=err)
        assert "line 2, ground_truth: missing (required)" in str(error.value)
        assert "line 2, ground_truth" in err.getvalue()
        assert not TestCase.objects.exists()

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["cases.txt"], "Cannot tell the format"),
            (["missing.jsonl"], "Cannot read"),
            (["cases.jsonl", "--user", "nobody"], "no user named 'nobody'"),
        ],
    )
    def test_bad_arguments(self, tmp_path, monkeypatch, args, message):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "cases.txt").write_text("{}")
        (tmp_path / "cases.jsonl").write_bytes(jsonl(case()))
        with pytest.raises(CommandError, match=message):
            call_command("import_cases", *args, stdout=io.StringIO(), stderr=io.StringIO())
        assert not TestCase.objects.exists()

    def test_stdin(self, monkeypatch):
        import sys

        fake = io.TextIOWrapper(io.BytesIO(jsonl(case())), encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", fake)
        out = io.StringIO()
        call_command("import_cases", "-", "--format", "jsonl", stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == "imported 1 cases"


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", ["jsonl", "json"])
def test_a_missing_brace_is_reported_where_the_parser_stopped(file_format):
    """Not "column 1" of the next line: the end of the line that lacks the brace."""
    whole = json.dumps(case())
    cut = whole[:-1]  # the closing brace missing
    if file_format == "jsonl":
        data = f"{whole}\n{whole}\n{cut}\n{whole}\n".encode()
    else:
        data = f"[\n{whole},\n{whole},\n{cut}\n]\n".encode()
    line = 3 if file_format == "jsonl" else 4
    (error,) = run(data, file_format, dry_run=True).errors
    assert error.line == line
    assert f"(column {len(cut) + 1})" in error.message
