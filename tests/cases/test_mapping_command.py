"""`import_cases` with a column mapping: flags, a JSON file, saved mappings; bad mappings and bad
cells stop it with every error named and nothing written."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from cases.models import ImportMapping, TestCase

CSV = 'idx,sentence,label\na1,I love it,positive\na2,"Awful, broken",negative\n'
FLAGS = [
    "--map",
    "input_data.text=sentence",
    "--map",
    "ground_truth=label",
    "--map",
    "external_id=idx",
    "--value",
    "input_type=text",
    "--value",
    "output_type=classification",
]


def call(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_cases", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def hub_csv(tmp_path):
    path = tmp_path / "hub.csv"
    path.write_text(CSV)
    return path


@pytest.mark.django_db
class TestCommand:
    def test_flags(self, hub_csv):
        out, _ = call(str(hub_csv), *FLAGS)
        assert out.strip() == "imported 2 cases"
        case = TestCase.objects.get(external_id="a2")
        assert case.input_data == {"text": "Awful, broken"}
        assert case.ground_truth == {"label": "negative"}

    def test_json_file_and_saving_it_for_the_next_file(self, hub_csv, tmp_path, curator):
        mapping = {
            "input_data": {"text": "sentence"},
            "ground_truth": "label",
            "values": {"input_type": "text", "output_type": "classification"},
        }
        path = tmp_path / "mapping.json"
        path.write_text(json.dumps(mapping))
        out, _ = call(
            str(hub_csv),
            "--mapping",
            str(path),
            "--map",
            "external_id=idx",
            "--save-mapping",
            "hub sentiment",
            "--user",
            "curator",
        )
        assert out.strip() == "imported 2 cases"
        saved = ImportMapping.objects.get(name="hub sentiment")
        assert saved.mapping == {**mapping, "external_id": "idx"} and saved.saved_by == curator
        TestCase.objects.all().delete()
        out, _ = call(str(hub_csv), "--saved-mapping", "hub sentiment")
        assert out.strip() == "imported 2 cases"

    def test_parquet_by_its_ending(self, tmp_path):
        path = tmp_path / "rows.parquet"
        pq.write_table(pa.table({"idx": ["p1"], "sentence": ["ok"], "label": ["positive"]}), path)
        out, _ = call(str(path), *FLAGS)
        assert out.strip() == "imported 1 cases"
        assert TestCase.objects.get().external_id == "p1"

    def test_missing_column_and_bad_json_cells_write_nothing(self, tmp_path):
        path = tmp_path / "bad.csv"
        path.write_text('sentence,label,meta\nok,positive,{}\nno,negative,oops\nx,y,"[1,"\n')
        with pytest.raises(CommandError, match=r"2 errors in 3 rows; nothing imported"):
            call(
                str(path), *FLAGS[:4], *FLAGS[6:], "--map", "metadata=meta", "--json-column", "meta"
            )
        assert TestCase.objects.count() == 0
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("import_cases", str(path), *FLAGS, stderr=err, stdout=io.StringIO())
        assert "line 1: column 'idx' is not in the file; its columns: sentence, label, meta" in (
            err.getvalue()
        )

    def test_bad_mapping_is_refused_before_reading(self, hub_csv):
        with pytest.raises(CommandError, match="Bad mapping: input_type: map a column to it or"):
            call(
                str(hub_csv),
                "--map",
                "input_data=sentence",
                "--map",
                "ground_truth=label",
                "--value",
                "output_type=classification",
            )
        with pytest.raises(CommandError, match="no mapping named 'nope'"):
            call(str(hub_csv), "--saved-mapping", "nope")
        with pytest.raises(CommandError, match="cannot be read from standard input"):
            call("-", "--format", "parquet", *FLAGS)
