"""Responses pushed into a run: one path, atomic, upsert, counts that always match."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from model_bakery import baker

from evaluations.models import Evaluation
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.response_lines import IngestError


def line(case_id, **fields) -> str:
    return json.dumps({"test_case_id": case_id, "output_data": {"label": "positive"}, **fields})


def counts(run) -> tuple[int, int]:
    run.refresh_from_db()
    return run.completed_cases, run.failed_cases


def recounted(run) -> tuple[int, int]:
    responses = Response.objects.filter(run=run)
    return responses.filter(error_message="").count(), responses.exclude(error_message="").count()


def test_lines_are_stored_with_their_measurements(run, golden):
    lines = [
        line(golden[0].pk, latency_ms=12, memory_mb=80.5, tokens_used=31, error_message=None),
        "",  # blank lines are skipped
        line(golden[1].pk, output_data=None, error_message="model crashed"),
        line(golden[2].pk, output_data=["any", "json", 1]).encode(),
    ]
    result = ingest_responses(run, lines)
    assert (result.imported, result.created, result.replaced) == (3, 3, 0)
    first = Response.objects.get(run=run, test_case=golden[0])
    assert (first.latency_ms, first.memory_mb, first.tokens_used) == (12, 80.5, 31)
    assert first.output_data == {"label": "positive"} and first.error_message == ""
    assert Response.objects.get(test_case=golden[1]).output_data is None
    assert counts(run) == (2, 1) == recounted(run)


def test_values_needing_escapes_are_stored_exactly(run, golden):
    message = 'tab\there, newline\nthere, backslash \\ and "quotes" é 😀'
    output = {"text": message, "n": 1.5e-7, "nested": [None, True, {"k": "\\N"}]}
    ingest_responses(
        run,
        [
            line(golden[0].pk, output_data=output, error_message=message, memory_mb=3),
            json.dumps({"test_case_id": golden[1].pk, "output_data": output}, ensure_ascii=False),
        ],
    )
    first = Response.objects.get(test_case=golden[0])
    assert first.output_data == output and first.error_message == message
    assert first.memory_mb == 3.0
    assert Response.objects.get(test_case=golden[1]).output_data == output


def test_reimporting_replaces_and_counts_follow(run, golden):
    ingest_responses(run, [line(c.pk, error_message="timeout") for c in golden[:4]])
    assert counts(run) == (0, 4)
    result = ingest_responses(run, [line(c.pk) for c in golden[:2]])
    assert (result.created, result.replaced) == (0, 2)
    assert counts(run) == (2, 2) == recounted(run)
    assert Response.objects.filter(run=run).count() == 4


def test_keep_existing_skips_answered_cases(run, golden):
    ingest_responses(run, [line(golden[0].pk, latency_ms=1)])
    result = ingest_responses(
        run, [line(golden[0].pk, latency_ms=99), line(golden[1].pk)], replace=False
    )
    assert (result.created, result.skipped) == (1, 1)
    assert Response.objects.get(test_case=golden[0]).latency_ms == 1


def test_replacing_an_answer_drops_its_stale_verdicts(run, golden):
    ingest_responses(run, [line(golden[0].pk), line(golden[1].pk)])
    for response in Response.objects.all():
        baker.make(
            Evaluation, response=response, evaluator_type="exact_match", score=1, passed=True
        )
    ingest_responses(
        run, [line(golden[0].pk, output_data={"label": "negative"}), line(golden[1].pk)]
    )
    kept = Evaluation.objects.values_list("response__test_case_id", flat=True)
    assert list(kept) == [golden[1].pk]  # same answer again: its verdict still holds


def test_a_run_answered_in_full_is_completed(run, golden):
    ingest_responses(run, [line(c.pk) for c in golden[:-1]])
    assert ModelRun.objects.get(pk=run.pk).status == "pending"
    ingest_responses(run, [line(golden[-1].pk)])
    run.refresh_from_db()
    assert run.status == "completed" and run.completed_at is not None


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (
            '{"test_case_id": 999999, "output_data": 1}',
            "test_case_id",
            "not in this run's selection",
        ),
        (lambda g: line(g[1].pk, latency_ms=-5), "latency_ms", "non-negative number"),
        (lambda g: line(g[1].pk, latency_ms="12"), "latency_ms", "non-negative number"),
        (lambda g: line(g[1].pk, memory_mb=-0.1), "memory_mb", "non-negative number"),
        (lambda g: line(g[1].pk, memory_mb=10**400), "memory_mb", "non-negative number"),
        (lambda g: line(g[1].pk, test_case_id=True), "test_case_id", "positive integer"),
        (lambda g: line(g[1].pk, tokens_used=1.5), "tokens_used", "non-negative integer"),
        (lambda g: line(g[0].pk), "test_case_id", "already given on line 1"),
        ("{not json", "", "not valid JSON"),
        ('{"test_case_id": 1, "output_data": NaN}', "", "not valid JSON"),
        ("[1, 2]", "", "must be a JSON object"),
        (lambda g: json.dumps({"test_case_id": g[1].pk}), "output_data", "required"),
        ('{"output_data": 1}', "test_case_id", "required"),
        (lambda g: line(g[1].pk, error_message=5), "error_message", "string or null"),
        (lambda g: line(g[1].pk, latency=5), "latency", "unknown field"),
        (lambda g: line(g[1].pk, output_data="nul \u0000"), "output_data", "\\u0000"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(run, golden, bad, field, message):
    ingest_responses(run, [line(golden[5].pk, error_message="old")])
    bad = bad(golden) if callable(bad) else bad
    with pytest.raises(IngestError) as error:
        ingest_responses(run, [line(golden[0].pk), bad, line(golden[2].pk)])
    assert error.value.errors[0]["line"] == 2
    assert error.value.errors[0]["field"] == field
    assert message in error.value.errors[0]["message"]
    assert "line 2" in str(error.value) and "nothing was imported" in str(error.value)
    assert list(Response.objects.values_list("test_case_id", flat=True)) == [golden[5].pk]
    assert counts(run) == (0, 1)


def test_a_deleted_case_is_named(run, golden):
    case_id = golden[3].pk
    golden[3].delete()
    with pytest.raises(IngestError, match=f"test case {case_id} no longer exists"):
        ingest_responses(run, [line(case_id)])


def test_parsed_objects_are_numbered_by_index(run, golden):
    objects = [{"test_case_id": golden[0].pk, "output_data": {}}, {"output_data": {}}]
    with pytest.raises(IngestError) as error:
        ingest_responses(run, objects)
    assert error.value.errors == [
        {"line": 1, "field": "test_case_id", "message": "required (or the case's external_id)"}
    ]
    result = ingest_responses(run, [{"test_case_id": golden[0].pk, "output_data": [1]}])
    assert result.created == 1
    assert Response.objects.get().output_data == [1]


def test_errors_are_capped_and_listed_in_line_order(run, monkeypatch):
    monkeypatch.setattr("runs.response_lines.MAX_ERRORS", 20)
    with pytest.raises(IngestError) as error:
        ingest_responses(run, ["nope"] * 50)
    assert len(error.value.errors) == 20 and error.value.more
    assert [e["line"] for e in error.value.errors] == list(range(1, 21))


def test_empty_input_is_an_error(run):
    with pytest.raises(IngestError, match="no responses"):
        ingest_responses(run, ["", "\n"])


class TestCommand:
    def test_imports_a_file(self, run, golden, tmp_path):
        path = tmp_path / "responses.jsonl"
        path.write_text("\ufeff" + "\n".join(line(c.pk, latency_ms=3) for c in golden) + "\n")
        out = io.StringIO()
        call_command("import_responses", str(run.pk), str(path), stdout=out)
        assert out.getvalue().strip().splitlines()[-1] == "imported 8 responses"
        assert counts(run) == (8, 0)

    def test_a_bad_file_exits_with_the_line_and_writes_nothing(self, run, golden, tmp_path):
        path = tmp_path / "responses.jsonl"
        path.write_text(line(golden[0].pk) + "\n" + line(golden[1].pk, latency_ms=-1) + "\n")
        err = io.StringIO()
        with pytest.raises(CommandError, match="line 2, latency_ms"):
            call_command("import_responses", str(run.pk), str(path), stderr=err)
        assert "line 2, latency_ms" in err.getvalue()
        assert not Response.objects.exists()

    def test_unknown_run_and_missing_file(self, run, tmp_path):
        with pytest.raises(CommandError, match="No run with id 0"):
            call_command("import_responses", "0", str(tmp_path / "x.jsonl"))
        with pytest.raises(CommandError, match="Cannot read"):
            call_command("import_responses", str(run.pk), str(tmp_path / "missing.jsonl"))


def test_decimal_latency_is_kept(run, golden):
    ingest_responses(
        run, [line(golden[0].pk, latency_ms=151.4), line(golden[1].pk, latency_ms=0.25)]
    )
    stored = dict(Response.objects.values_list("test_case_id", "latency_ms"))
    assert stored == {golden[0].pk: 151.4, golden[1].pk: 0.25}


def test_every_problem_is_reported_in_one_round(run, golden):
    """A case outside the selection used to be named only after the negative latency was fixed."""
    outsider = baker.make(
        "cases.TestCase", input_type="text", output_type="classification", ground_truth={}
    )
    with pytest.raises(IngestError) as error:
        ingest_responses(
            run,
            [
                line(golden[0].pk, latency_ms=-1),
                line(outsider.pk),
                line(golden[1].pk, tokens_used=-2, memory_mb="x"),
                "{bad",
                line(golden[2].pk),
            ],
        )
    assert [(e["line"], e["field"]) for e in error.value.errors] == [
        (1, "latency_ms"),
        (2, "test_case_id"),
        (3, "memory_mb"),
        (3, "tokens_used"),
        (4, ""),
    ]
    assert not error.value.more and not Response.objects.exists()


class TestExternalIds:
    def test_a_line_may_name_its_case_by_external_id(self, run, golden):
        golden[0].external_id, golden[1].external_id = "row-1", "17"
        golden[0].save()
        golden[1].save()
        result = ingest_responses(
            run,
            [
                json.dumps({"external_id": "row-1", "output_data": {"label": "x"}}),
                json.dumps({"external_id": 17, "output_data": {"label": "y"}}),
                line(golden[2].pk),
            ],
        )
        assert result.created == 3
        stored = dict(Response.objects.values_list("test_case_id", "output_data"))
        assert stored[golden[0].pk] == {"label": "x"} and stored[golden[1].pk] == {"label": "y"}

    def test_unknown_twice_and_both_are_errors(self, run, golden):
        golden[0].external_id = "row-1"
        golden[0].save()
        with pytest.raises(IngestError) as error:
            ingest_responses(
                run,
                [
                    json.dumps({"external_id": "nope", "output_data": 1}),
                    json.dumps({"external_id": "row-1", "output_data": 1}),
                    line(golden[0].pk),  # the same case by its id
                    json.dumps({"external_id": "row-1", "output_data": 2}),
                    json.dumps(
                        {"external_id": "a", "test_case_id": golden[3].pk, "output_data": 1}
                    ),
                ],
            )
        assert [(e["line"], e["field"]) for e in error.value.errors] == [
            (1, "external_id"),
            (3, "external_id"),
            (4, "external_id"),
            (5, "external_id"),
        ]
        messages = [e["message"] for e in error.value.errors]
        assert "no case has the external_id 'nope'" in messages[0]
        assert "already given on line 2" in messages[1] and "already given on line 2" in messages[2]
        assert "not both" in messages[3]

    def test_an_external_id_outside_the_run_is_named(self, run, golden):
        other = baker.make(
            "cases.TestCase",
            input_type="text",
            output_type="classification",
            ground_truth={},
            external_id="elsewhere",
        )
        with pytest.raises(IngestError, match=f"test case {other.pk} is not in this run"):
            ingest_responses(run, [json.dumps({"external_id": "elsewhere", "output_data": 1})])
