"""Parquet export: the selection (page and command) and a version, written a row group at a
time, with the CSV/JSONL export's columns and values."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEvent
from cases import parquet
from cases.exporting import export_lines
from cases.models import TestCase
from cases.validation import FIELDS
from versions import freezing


def read(data: bytes) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(data))


def stored(case: TestCase) -> dict:
    """A case as the export writes it: JSON fields as JSON text."""
    row = {"id": case.pk, **{name: getattr(case, name) for name in FIELDS}}
    for name in ("input_data", "ground_truth", "metadata"):
        row[name] = json.loads(json.dumps(row[name]))
    return row


def rows_of(data: bytes) -> list[dict]:
    rows = read(data).read().to_pylist()
    for row in rows:
        for name in ("input_data", "ground_truth", "metadata"):
            row[name] = json.loads(row[name])
    return rows


@pytest.fixture
def cases(make_case):
    return [
        make_case(
            input_data={"text": 'Ünïcode, "quotes";\nnewline', "n": 1.5},
            tags=["en", "tricky"],
            metadata={"nested": {"a": [1, None, True]}},
            external_id="src/1",
        ),
        make_case(
            output_type="regression",
            ground_truth={"value": 3.25},
            tags=[],
            difficulty="hard",
            is_verified=True,
        ),
    ]


@pytest.mark.django_db
class TestWriter:
    def test_columns_types_and_values(self, cases):
        data = b"".join(export_lines(TestCase.objects.all(), "parquet"))
        file = read(data)
        schema = file.schema_arrow
        assert schema.names == ["id", *FIELDS]
        assert schema.field("tags").type == pa.list_(pa.string())
        assert schema.field("is_verified").type == pa.bool_()
        assert schema.field("id").type == pa.int64()
        assert schema.metadata[b"mleval.json_columns"] == b"input_data,ground_truth,metadata"
        assert rows_of(data) == [stored(case) for case in cases]
        assert rows_of(data)[1]["external_id"] is None

    def test_written_a_row_group_at_a_time(self, make_case, monkeypatch):
        monkeypatch.setattr(parquet, "ROW_GROUP", 10)
        for i in range(25):
            make_case(input_data={"text": f"case {i}"})
        stream = export_lines(TestCase.objects.all(), "parquet")
        chunks = []
        for chunk in stream:
            chunks.append(chunk)
            if len(chunks) == 1:  # the first row group is out before the rest is read
                assert stream.cases == 10
        assert len(chunks) == 3 and all(chunks)  # 2 row groups; the last one with the footer
        file = read(b"".join(chunks))
        assert file.metadata.num_row_groups == 3 and file.metadata.num_rows == 25
        assert stream.cases == 25

    def test_empty_selection_is_a_valid_file(self, db):
        data = b"".join(export_lines(TestCase.objects.none(), "parquet"))
        assert read(data).metadata.num_rows == 0


@pytest.mark.django_db
class TestPageAndCommand:
    def test_page_streams_parquet_and_audits_the_count(self, login, viewer, cases):
        response = login(viewer).get(reverse("cases:export"), {"format": "parquet"})
        assert response.streaming
        assert response["Content-Type"] == "application/vnd.apache.parquet"
        assert response["Content-Disposition"].endswith('.parquet"')
        data = b"".join(response.streaming_content)
        assert [row["id"] for row in rows_of(data)] == [case.pk for case in cases]
        event = AuditEvent.objects.filter(action="cases.export").get()
        assert event.count == 2 and event.detail["format"] == "parquet"
        page = login(viewer).get(reverse("cases:export")).content.decode()
        assert "format=parquet" in page

    def test_command_writes_parquet_from_the_file_ending(self, tmp_path, cases):
        path = tmp_path / "cases.parquet"
        out = io.StringIO()
        call_command("export_cases", str(path), stdout=out, stderr=io.StringIO())
        assert out.getvalue().strip() == "exported 2 cases"
        assert rows_of(path.read_bytes()) == [stored(case) for case in cases]


@pytest.mark.django_db
def test_version_export_keeps_the_frozen_content(login, viewer, cases):
    version = freezing.freeze("v1", selection={})
    TestCase.objects.filter(pk=cases[0].pk).update(category="edited later")
    TestCase.objects.filter(pk=cases[1].pk).delete()
    response = login(viewer).get(version.get_absolute_url(), {"format": "parquet"})
    assert response["Content-Disposition"].endswith(f'mleval-version-{version.pk}.parquet"')
    rows = rows_of(b"".join(response.streaming_content))
    assert [row["id"] for row in rows] == [cases[0].pk, cases[1].pk]  # the deleted one too
    assert rows[0]["category"] == "sentiment" and rows[1]["ground_truth"] == {"value": 3.25}
    assert "format=parquet" in login(viewer).get(version.get_absolute_url()).content.decode()
