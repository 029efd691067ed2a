"""Importing tables with their own column names (CSV, JSONL, Parquet) through a column mapping:
what is stored, and bad mappings (a missing column, a JSON column that is not JSON) named by row
and column, every error at once, nothing written."""

import datetime
import io
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cases.exporting import export_lines
from cases.importing import import_cases
from cases.mapping import ColumnMapping, MappingError
from cases.models import TestCase
from cases.tables import preview, sample
from cases.validation import FIELDS

HUB = {
    "input_data": {"text": "sentence"},
    "ground_truth": "label",
    "category": "topic",
    "tags": "keywords",
    "external_id": "idx",
    "metadata": "meta",
    "json_columns": ["meta"],
    "values": {"input_type": "text", "output_type": "classification", "model_type": "nlp"},
}

HUB_CSV = (
    "idx,sentence,label,topic,keywords,meta,unused\n"
    'a1,I love it,positive,reviews,en;short,"{""src"": ""hub""}",x\n'
    'a2,"Awful, broken",negative,reviews,,,y\n'
)


def run(data: bytes, file_format: str, mapping: dict | ColumnMapping | None, **options):
    if isinstance(mapping, dict):
        mapping = ColumnMapping.from_json(mapping)
    return import_cases(io.BytesIO(data), file_format=file_format, mapping=mapping, **options)


def messages(report) -> list[str]:
    return [str(error) for error in report.errors]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def stored() -> list[dict]:
    return list(TestCase.objects.order_by("id").values(*FIELDS))


@pytest.mark.django_db
class TestCsv:
    def test_hub_columns_become_cases(self):
        report = run(HUB_CSV.encode(), "csv", HUB)
        assert report.ok, messages(report)
        assert report.imported == 2
        first, second = stored()
        assert first == {
            "input_data": {"text": "I love it"},
            "input_type": "text",
            "input_format": "",
            "ground_truth": {"label": "positive"},
            "output_type": "classification",
            "model_type": "nlp",
            "category": "reviews",
            "tags": ["en", "short"],
            "difficulty": "",
            "origin": "human",
            "is_verified": True,
            "metadata": {"src": "hub"},
            "external_id": "a1",
        }
        assert second["input_data"] == {"text": "Awful, broken"}
        assert second["tags"] == [] and second["metadata"] == {}  # empty cells: the defaults

    def test_several_input_columns_and_typed_ground_truths(self):
        data = b"q,ctx,score,labels\nWhat?,The text,3.25,a;b\nWhy?,Other,4,c\n"
        regression = {
            "input_data": ["q", "ctx"],
            "ground_truth": "score",
            "values": {"input_type": "text", "output_type": "regression"},
        }
        assert run(data, "csv", regression).ok
        first, second = stored()
        assert first["input_data"] == {"q": "What?", "ctx": "The text"}
        assert first["ground_truth"] == {"value": 3.25} and second["ground_truth"] == {"value": 4}
        multilabel = {
            **regression,
            "ground_truth": "labels",
            "values": {"input_type": "text", "output_type": "multilabel"},
        }
        assert run(data, "csv", multilabel).ok
        assert stored()[2]["ground_truth"] == {"labels": ["a", "b"]}

    def test_json_column_that_is_not_json_names_row_and_column_and_writes_nothing(self):
        data = (
            b"idx,sentence,label,topic,keywords,meta,unused\n"
            b'a1,fine,positive,t,,"{""ok"": 1}",\n'
            b"a2,bad,positive,t,,not json,\n"
            b'a3,worse,positive,t,,"{""open"": ",\n'
        )
        report = run(data, "csv", HUB)
        assert not report.ok and report.imported == 0
        assert messages(report) == [
            "line 3, metadata (column meta): not valid JSON: Expecting value (column 1) of the "
            "cell",
            "line 4, metadata (column meta): not valid JSON: Expecting value (column 9) of the "
            "cell",
        ]
        assert TestCase.objects.count() == 0

    def test_missing_columns_are_named_with_the_files_columns(self):
        mapping = {**HUB, "ground_truth": "answer", "category": "domain"}
        report = run(HUB_CSV.encode(), "csv", mapping)
        assert messages(report) == [
            "line 1: column 'answer' is not in the file; its columns: idx, sentence, label, "
            "topic, keywords, meta, unused",
            "line 1: column 'domain' is not in the file; its columns: idx, sentence, label, "
            "topic, keywords, meta, unused",
        ]
        assert report.rows == 0 and TestCase.objects.count() == 0

    def test_validator_errors_name_the_column(self):
        data = b"sentence,label\nhello,\nhi,positive\n"
        mapping = {
            "input_data": "sentence",
            "ground_truth": "label",
            "values": {"input_type": "text", "output_type": "classification"},
        }
        report = run(data, "csv", mapping)
        assert messages(report) == ["line 2, ground_truth (column label): missing (required)"]
        assert TestCase.objects.count() == 0

    def test_bad_regression_number(self):
        data = b"x,y\nhello,abc\n"
        mapping = {
            "input_data": "x",
            "ground_truth": "y",
            "values": {"input_type": "text", "output_type": "regression"},
        }
        assert messages(run(data, "csv", mapping)) == [
            "line 2, ground_truth (column y): 'abc' is not a number"
        ]


@pytest.mark.django_db
class TestJsonl:
    def test_an_object_column_is_the_whole_input(self):
        rows = [
            {"id": 7, "inputs": {"prompt": "2+2?", "lang": "en"}, "answer": "4", "kind": "math"},
            {"id": 8, "inputs": {"prompt": "3+3?"}, "answer": "6"},  # no kind: the default
        ]
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        mapping = {
            "input_data": "inputs",
            "ground_truth": "answer",
            "external_id": "id",
            "category": "kind",
            "values": {"input_type": "text", "output_type": "text"},
        }
        report = run(data, "jsonl", mapping)
        assert report.ok, messages(report)
        first, second = stored()
        assert first["input_data"] == {"prompt": "2+2?", "lang": "en"}
        assert first["ground_truth"] == {"text": "4"} and first["external_id"] == "7"
        assert first["category"] == "math" and second["category"] == ""

    def test_a_column_in_no_line(self):
        data = b'{"q": "a", "a": "b"}\n'
        mapping = {
            "input_data": "q",
            "ground_truth": "answer",
            "values": {"input_type": "text", "output_type": "text"},
        }
        report = run(data, "jsonl", mapping)
        assert "the file: column 'answer' is in no line of the file" in messages(report)
        assert TestCase.objects.count() == 0


@pytest.mark.django_db
class TestParquet:
    def table(self) -> pa.Table:
        return pa.table(
            {
                "uid": pa.array([101, 102, None], pa.int64()),
                "features": pa.array(
                    [
                        {"age": 31, "income": 2.5},
                        {"age": 40, "income": None},
                        {"age": 1, "income": 0.0},
                    ]
                ),
                "target": pa.array([1, 0, 1], pa.int8()),
                "labels": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
                "seen": pa.array([datetime.datetime(2026, 1, 2, 3, 4, 5)] * 3, pa.timestamp("s")),
                "score": pa.array([0.5, math.nan, 1.0]),
                "ignored": pa.array([b"\x00\x01", b"", b""], pa.binary()),
            }
        )

    def test_typed_columns_become_cases(self):
        mapping = {
            "input_data": "features",
            "ground_truth": "target",
            "tags": "labels",
            "external_id": "uid",
            "metadata": ["seen", "score"],
            "values": {
                "input_type": "tabular",
                "output_type": "classification",
                "model_type": "tabular",
            },
        }
        report = run(parquet_bytes(self.table()), "parquet", mapping)
        assert report.ok, messages(report)
        first, second, third = stored()
        assert first["input_data"] == {"age": 31, "income": 2.5}
        assert second["input_data"] == {"age": 40, "income": None}
        assert first["ground_truth"] == {"label": 1} and second["ground_truth"] == {"label": 0}
        assert first["tags"] == ["a", "b"] and third["tags"] == []
        assert first["external_id"] == "101" and third["external_id"] is None
        assert first["metadata"] == {"seen": "2026-01-02T03:04:05", "score": 0.5}
        assert second["metadata"]["score"] is None  # NaN: JSON has none

    def test_binary_column_and_missing_column_are_named(self):
        mapping = {
            "input_data": ["features", "ignored"],
            "ground_truth": "target",
            "values": {"input_type": "tabular", "output_type": "classification"},
        }
        report = run(parquet_bytes(self.table()), "parquet", mapping)
        assert messages(report)[0] == (
            "row 1, input_data (columns features, ignored): column 'ignored': binary data, "
            "which JSON cannot hold"
        )
        assert report.error_count == 3 and TestCase.objects.count() == 0
        missing = {**mapping, "input_data": "feature"}
        assert messages(run(parquet_bytes(self.table()), "parquet", missing)) == [
            "the file: column 'feature' is not in the file; its columns: uid, features, target, "
            "labels, seen, score, ignored"
        ]

    def test_json_text_column_that_is_not_json(self):
        table = pa.table({"x": ["{}", '{"a": 1}', "{oops"], "y": ["p", "q", "r"]})
        mapping = {
            "input_data": "x",
            "ground_truth": "y",
            "json_columns": ["x"],
            "values": {"input_type": "json", "output_type": "classification"},
        }
        report = run(parquet_bytes(table), "parquet", mapping)
        assert messages(report) == [
            "row 3, input_data (column x): not valid JSON: Expecting property name enclosed in "
            "double quotes (column 2) of the cell"
        ]

    def test_a_nul_in_a_string_is_refused(self):
        table = pa.table({"x": ["fine", "bad\x00text"], "y": ["p", "q"]})
        mapping = {
            "input_data": "x",
            "ground_truth": "y",
            "values": {"input_type": "text", "output_type": "classification"},
        }
        report = run(parquet_bytes(table), "parquet", mapping)
        assert [e.line for e in report.errors] == [2] and report.errors[0].unit == "row"
        assert "input_data" in report.errors[0].field and TestCase.objects.count() == 0

    def test_the_parquet_export_imports_without_a_mapping(self, make_case):
        make_case(input_data={"text": "ü", "n": [1, 2.5]}, tags=["en"], external_id="e1")
        make_case(output_type="regression", ground_truth={"value": 2}, is_verified=False)
        before = stored()
        data = b"".join(export_lines(TestCase.objects.all(), "parquet"))
        TestCase.objects.all().delete()
        report = run(data, "parquet", None)
        assert report.ok and report.imported == 2, messages(report)
        assert stored() == before

    def test_foreign_parquet_without_a_mapping_says_to_map(self):
        report = run(parquet_bytes(self.table()), "parquet", None)
        assert (
            "the file, input_data: required column missing; name the columns' fields with a "
            "mapping" in messages(report)
        )
        assert TestCase.objects.count() == 0

    def test_not_parquet(self):
        report = run(b"idx,sentence\n", "parquet", HUB)
        assert messages(report)[0].startswith("the file: not a readable Parquet file")


class TestMappingSpec:
    def test_every_problem_at_once(self):
        with pytest.raises(MappingError) as caught:
            ColumnMapping.from_json(
                {"inputs": "x", "tags": 3, "values": {"ground_truth": "a", "is_verified": "yes"}}
            )
        assert caught.value.errors == [
            "inputs: not a case field (a mapping names " + ", ".join(FIELDS) + ")",
            "tags: give a column name, got 3",
            "values.ground_truth: a value for every row can be given to input_type, "
            "input_format, output_type, model_type, category, tags, difficulty, origin, "
            "is_verified",
            "input_data: map at least one column to it (required)",
            "ground_truth: map at least one column to it (required)",
            "input_type: map a column to it or give a value (required)",
            "output_type: map a column to it or give a value (required)",
            'values.is_verified: must be true or false, got "yes"',
        ]

    def test_flags_on_top_of_a_file_and_back_to_json(self):
        mapping = ColumnMapping.from_options(
            ["input_data.text=sentence", "input_data=lang", "metadata=src", "ground_truth=y"],
            ["output_type=classification", "is_verified=false"],
            ["src"],
            base={"input_data": "old", "input_type": "kind", "values": {"output_type": "x"}},
        )
        assert mapping.as_json() == {
            "input_data": {"text": "sentence", "lang": "lang"},
            "input_type": "kind",
            "ground_truth": "y",
            "metadata": ["src"],
            "values": {"output_type": "classification", "is_verified": False},
            "json_columns": ["src"],
        }
        with pytest.raises(MappingError, match="write FIELD=COLUMN"):
            ColumnMapping.from_options(["input_data"])


@pytest.mark.django_db
def test_sample_and_preview_read_only_the_first_rows():
    data = HUB_CSV + "".join(f"z{i},s,positive,t,,,\n" for i in range(50)) + "bad,row\n"
    columns, rows, problems = sample(io.BytesIO(data.encode()), "csv", rows=2)
    assert columns == ["idx", "sentence", "label", "topic", "keywords", "meta", "unused"]
    assert [row["idx"] for row in rows] == ["a1", "a2"] and problems == []
    report = preview(io.BytesIO(data.encode()), "csv", ColumnMapping.from_json(HUB), rows=3)
    assert [row["external_id"] for row in report.preview] == ["a1", "a2", "z0"]
    assert report.preview[0]["ground_truth"] == {"label": "positive"} and report.ok
