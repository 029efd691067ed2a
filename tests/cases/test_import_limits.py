"""Imports and ingestion name the line and field of what jsonb or mleval's limits refuse
(issue 14): numbers past a float, nesting past jsonsafe.MAX_DEPTH (and 10,000 levels, which
Python cannot parse), and the page's job always ends. Duplicate keys: the last wins, on every
path."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import ApiToken
from cases.importing import import_cases
from cases.models import TestCase
from cases.tasks import import_cases_task
from jobs.models import Job
from mleval_site import jsonsafe
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response, RunCase
from runs.response_lines import IngestError

CASE = (
    '{"input_data": %s, "input_type": "text", "ground_truth": {"label": "positive"}, '
    '"output_type": "classification", "model_type": "nlp"}'
)
GOOD = CASE % '{"text": "fine"}'
HUGE = CASE % '{"x": 1e400}'
DEEP = CASE % ('{"x": ' + "[" * 10_000 + "]" * 10_000 + "}")
PAST_LIMIT = CASE % ('{"x": ' + "[" * 150 + "]" * 150 + "}")
CSV_HEADER = "input_data,input_type,ground_truth,output_type,model_type"


def csv_line(input_data: str) -> str:
    quoted = '"' + input_data.replace('"', '""') + '"'
    return f'{quoted},text,"{{""label"": ""positive""}}",classification,nlp'


def files(bad: str) -> dict[str, str]:
    """The same three cases, the second bad, in each format."""
    bad_input = bad[len('{"input_data": ') : bad.index(', "input_type"')]
    return {
        "jsonl": "\n".join([GOOD, bad, GOOD]) + "\n",
        "json": "[\n" + ",\n".join([GOOD, bad, GOOD]) + "\n]\n",
        "csv": "\n".join(
            [CSV_HEADER, csv_line('{"text": "fine"}'), csv_line(bad_input), csv_line("{}")]
        )
        + "\n",
    }


def errors(text: str, file_format: str, dry_run: bool = True) -> list[tuple[int, str, str]]:
    report = import_cases(io.BytesIO(text.encode()), file_format=file_format, dry_run=dry_run)
    assert report.imported == 0
    return [(e.line, e.field, e.message) for e in report.errors]


@pytest.mark.django_db
class TestImportFiles:
    @pytest.mark.parametrize(("file_format", "line"), [("jsonl", 2), ("json", 3), ("csv", 3)])
    def test_a_number_past_a_float_names_its_line_and_field(self, file_format, line):
        for dry_run in (True, False):
            found = errors(files(HUGE)[file_format], file_format, dry_run)
            assert [(n, field) for n, field, _ in found] == [(line, "input_data")], found
            assert "64-bit float" in found[0][2]
        assert not TestCase.objects.exists()

    @pytest.mark.parametrize(("file_format", "line"), [("jsonl", 2), ("json", 3), ("csv", 3)])
    @pytest.mark.parametrize("bad", [DEEP, PAST_LIMIT], ids=["10000", "150"])
    def test_nesting_past_the_limit_names_its_line(self, file_format, line, bad):
        found = errors(files(bad)[file_format], file_format, dry_run=False)
        assert len(found) == 1 and found[0][0] == line, found
        assert f"{jsonsafe.MAX_DEPTH} levels" in found[0][2]
        # 10,000 levels do not parse: the line is named; a CSV cell or a parsed value names
        # its field too
        if file_format == "csv" or bad is PAST_LIMIT:
            assert found[0][1] == "input_data", found

    def test_the_page_s_check_and_import_always_end(self, settings, tmp_path, curator):
        settings.MEDIA_ROOT = tmp_path
        client = Client()
        client.force_login(curator)
        for dry_run in ("check", "import"):
            for bad in (HUGE, DEEP):
                upload = SimpleUploadedFile("cases.jsonl", files(bad)["jsonl"].encode())
                client.post("/cases/import/", {"file": upload, dry_run: "1"})
                job = Job.objects.latest("pk")
                import_cases_task.call(job.pk)
                job.refresh_from_db()
                assert job.state == "succeeded" and job.result["error_count"] == 1
                [error] = job.result["errors"]
                assert error["line"] == 2 and error["field"] == (
                    "input_data" if bad is HUGE else ""
                )
                page = client.get(f"/cases/import/{job.pk}/").content.decode()
                assert "line 2" in page and "levels" in page or "64-bit" in page
        assert not TestCase.objects.exists()


@pytest.fixture
def run(db):
    case = TestCase.objects.create(
        input_data={"text": "x"},
        input_type="text",
        ground_truth={"label": "positive"},
        output_type="classification",
        model_type="nlp",
    )
    run = ModelRun.objects.create(
        model_name="m", model_version="1", model_type="nlp", total_cases=1
    )
    RunCase.objects.create(run=run, test_case=case)
    return run, case


@pytest.mark.django_db
class TestResponsesAlike:
    """NDJSON (stored as sent, fast path), a JSON list (parsed) and the API: the same rule."""

    def test_a_number_past_a_float_is_refused_naming_line_and_field(self, run):
        run, case = run
        line = f'{{"test_case_id": {case.pk}, "output_data": {{"score": 1e400}}}}'
        with pytest.raises(IngestError) as ndjson:
            ingest_responses(run, [line.encode()])
        with pytest.raises(IngestError) as parsed:
            ingest_responses(run, [json.loads(line)])
        for error in (ndjson.value, parsed.value):
            [item] = error.errors
            assert item["field"] == "output_data" and "64-bit float" in item["message"]
        assert not Response.objects.exists()

    def test_duplicate_keys_the_last_wins_on_every_path(self, run, engineer):
        run, case = run
        line = f'{{"test_case_id": {case.pk}, "output_data": {{"a": 1, "a": 2}}}}'
        _, raw = ApiToken.objects.issue(engineer, "t")
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        url = f"/api/v1/runs/{run.pk}/responses/"
        stored = []
        for body, content_type in ((line, "application/x-ndjson"), (f"[{line}]", None)):
            answer = api.post(url, body, content_type or "application/json")
            assert answer.status_code == 200, answer.content
            stored.append(Response.objects.get(run=run).output_data)
        ingest_responses(run, [line.encode()])  # import_responses' path
        stored.append(Response.objects.get(run=run).output_data)
        assert stored == [{"a": 2}] * 3
        text = CASE % '{"k": 1, "k": 2}'
        report = import_cases(io.BytesIO(text.encode()), file_format="jsonl")
        assert report.imported == 1 and TestCase.objects.latest("pk").input_data == {"k": 2}
