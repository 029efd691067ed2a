"""The scoring pipeline: which evaluators a run gets, upserts, failures, the command."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, JSONNull
from django.db.models.functions import Now
from model_bakery import baker

from cases.models import TestCase
from evaluations.evaluators import EvaluatorConfigError, run_evaluator
from evaluations.models import Evaluation
from evaluations.pipeline import (
    PlannedEvaluator,
    chunk_bounds,
    evaluate_run,
    resolve_evaluators,
)
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests import baker_recipes

pytestmark = pytest.mark.django_db


def make_case(output_type: str, ground_truth, **fields) -> TestCase:
    """The shared recipe's case with this output type and ground truth (positional: brevity)."""
    return baker_recipes.make_case(output_type=output_type, ground_truth=ground_truth, **fields)


def make_run(**config) -> ModelRun:
    return baker.make(ModelRun, model_type="nlp", config=config)


def respond(run: ModelRun, case: TestCase, output, error: str = "") -> Response:
    if output is None:
        output = JSONNull()  # a JSON null, which a model may answer (Python None is SQL NULL)
    return baker.make(Response, run=run, test_case=case, output_data=output, error_message=error)


def rows(run: ModelRun) -> dict[tuple[int, str], tuple]:
    return {
        (e.response_id, e.evaluator_type): (e.score, e.passed, e.metrics, e.feedback)
        for e in Evaluation.objects.filter(response__run=run)
    }


@pytest.fixture
def classification_run() -> tuple[ModelRun, list[Response]]:
    run = make_run()
    labels = ["cat", "dog", "cat", "bird", "dog"]
    predicted = ["cat", "cat", "cat", "bird", "bird"]
    responses = [
        respond(run, make_case("classification", {"label": actual}), {"label": guess})
        for actual, guess in zip(labels, predicted, strict=True)
    ]
    return run, responses


def test_defaults_score_every_response_like_the_pure_evaluator(classification_run):
    run, responses = classification_run
    result = evaluate_run(run, chunk_size=2)
    assert result.responses == 5 and result.evaluations == 5 and result.chunks == 3
    stored = rows(run)
    assert set(stored) == {(r.pk, "label_match") for r in responses}
    for response in responses:
        verdict = run_evaluator(
            "label_match", response.output_data, response.test_case.ground_truth, None
        )
        score, passed, metrics, feedback = stored[(response.pk, "label_match")]
        assert (score, passed, metrics, feedback) == (
            verdict.score,
            verdict.passed,
            verdict.metrics,
            verdict.feedback,
        )
    assert sorted(s for s, *_ in stored.values()) == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_scoring_again_replaces_rows_never_duplicates(classification_run):
    run, responses = classification_run
    evaluate_run(run)
    first_ids = set(Evaluation.objects.values_list("id", flat=True))
    Response.objects.filter(pk=responses[1].pk).update(output_data={"label": "dog"})
    evaluate_run(run, chunk_size=1)
    assert Evaluation.objects.count() == 5
    assert set(Evaluation.objects.values_list("id", flat=True)) == first_ids
    assert Evaluation.objects.get(response=responses[1]).passed is True


def row_versions(run: ModelRun) -> dict[int, str]:
    """Each verdict's physical row version (an UPDATE always makes a new one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.response_id, e.ctid::text FROM evaluations e "
            "JOIN responses r ON r.id = e.response_id WHERE r.run_id = %s",
            [run.pk],
        )
        return dict(cursor.fetchall())


def test_scoring_again_rewrites_only_the_verdicts_that_changed(classification_run):
    run, responses = classification_run
    first = evaluate_run(run)
    assert (first.evaluations, first.inserted) == (5, 5)
    before = row_versions(run)
    Response.objects.filter(pk=responses[1].pk).update(output_data={"label": "dog"})
    again = evaluate_run(run, chunk_size=2)
    assert (again.evaluations, again.inserted) == (5, 0)  # nothing grew: no ANALYZE
    after = row_versions(run)
    assert {pk for pk in before if before[pk] != after[pk]} == {responses[1].pk}
    assert Evaluation.objects.get(response=responses[1]).passed is True


def test_a_verdict_edited_elsewhere_loses_its_digest_and_is_scored_back(classification_run):
    """A re-score skips the verdicts whose stored digest matches; one changed by anything but
    the pipeline (here an UPDATE by hand) has no digest any more, so it is compared in full and
    rewritten, and gets a digest again."""
    run, responses = classification_run
    evaluate_run(run)
    digests = dict(Evaluation.objects.values_list("response_id", "content_digest"))
    assert len(digests) == 5 and all(digests.values())  # each verdict as the pipeline wrote it
    edited = Evaluation.objects.filter(response=responses[0])
    edited.update(score=0.5, feedback="changed by hand")
    assert edited.get().content_digest is None  # the trigger: not the pipeline's content now
    Evaluation.objects.filter(response=responses[1]).update(created_at=Now())  # content kept
    assert Evaluation.objects.get(response=responses[1]).content_digest is not None
    before = row_versions(run)
    evaluate_run(run)
    after = row_versions(run)
    assert {pk for pk in before if before[pk] != after[pk]} == {responses[0].pk}
    restored = edited.get()
    assert (restored.score, restored.feedback) != (0.5, "changed by hand")
    assert bytes(restored.content_digest) == bytes(digests[responses[0].pk])


def test_failed_model_call_scores_zero_with_feedback_naming_the_failure(classification_run):
    run, _ = classification_run
    failed = respond(run, make_case("classification", {"label": "cat"}), {}, "timeout after 30s")
    result = evaluate_run(run)
    assert result.failed_calls == 1
    evaluation = Evaluation.objects.get(response=failed)
    assert (evaluation.score, evaluation.passed) == (0.0, False)
    assert "timeout after 30s" in evaluation.feedback
    assert evaluation.metrics["call_failed"] is True
    assert evaluation.metrics["evaluator_version"] == "2"


@pytest.mark.parametrize(
    "output, named",
    [
        ({"confidence": 0.3}, "label"),
        ({"label": 7.5}, "label"),  # an integer is a label now; a float is not
        (None, "null"),
        ({"label": None}, "null"),
        ({"label": {"name": "cat"}}, "object"),
        ([1, 2], "array"),
    ],
)
def test_malformed_output_scores_zero_and_says_what_was_wrong(output, named):
    run = make_run()
    response = respond(run, make_case("classification", {"label": "cat"}), output)
    result = evaluate_run(run)
    evaluation = Evaluation.objects.get(response=response)
    assert (evaluation.score, evaluation.passed) == (0.0, False)
    assert named in evaluation.feedback
    assert evaluation.metrics["error"] and "ground_truth_error" not in evaluation.metrics
    assert result.malformed_outputs == 1 and result.curation_errors == 0


def test_malformed_numbers_in_every_family_never_stop_a_run():
    run = make_run()
    outputs = {
        "regression": ({"value": 3.0}, {"value": "NaN"}),
        "bounding_boxes": ({"boxes": [{"label": "a", "bbox": [0, 0, 1, 1]}]}, {"boxes": "x"}),
        "ranking": ({"relevant": ["a"]}, {"ranking": {"a": 1}}),
        "forecast": ({"values": [1, 2]}, {"values": [1, None]}),
        "multilabel": ({"labels": ["a"]}, {"labels": "a"}),
        "text": ({"text": "hello"}, {"text": ["hello"]}),
    }
    for output_type, (truth, output) in outputs.items():
        respond(run, make_case(output_type, truth), output)
    result = evaluate_run(run)
    assert result.evaluations == len(outputs)
    assert not Evaluation.objects.filter(passed=True).exists()
    assert set(Evaluation.objects.values_list("score", flat=True)) == {0.0}


def test_malformed_ground_truth_is_a_curation_error():
    run = make_run()
    bad = make_case("classification", {"labels": ["cat"]})
    respond(run, bad, {"label": "cat"})
    respond(run, make_case("classification", {"label": "cat"}), {"label": "cat"})
    result = evaluate_run(run)
    assert result.curation_errors == 1
    errors = Evaluation.objects.filter(response__run=run).curation_errors()
    assert list(errors.values_list("response__test_case_id", flat=True)) == [bad.pk]
    assert "Ground truth" in errors.get().feedback


def test_curation_errors_are_answered_by_their_partial_index():
    """The query's containment is the partial index's condition, so the planner can use it
    (with sequential scans off it must, or the condition and the query have drifted apart)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Evaluation.objects.curation_errors().explain()
    assert "evals_curation_errors" in plan


def test_verdicts_by_response_are_found_through_the_unique_index_alone():
    """evaluations(response_id) has no index of its own (one fewer to maintain per insert):
    the unique (response, evaluator, grader) answers lookups by response, and a run's delete."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Evaluation.objects.filter(response_id__in=[1, 2]).explain()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'evaluations'")
        indexes = [row[0] for row in cursor.fetchall()]
    assert "evaluations_evaluation_one_per_evaluator_grader" in plan
    assert not [index for index in indexes if index.endswith("(response_id)")]


def test_mixed_run_applies_each_default_only_to_its_output_type():
    run = make_run()
    label = respond(run, make_case("classification", {"label": "a"}), {"label": "a"})
    text = respond(run, make_case("text", {"text": "Hello!"}), {"text": "hello"})
    odd = respond(run, make_case("sql", {"query": "SELECT 1"}), {"query": "SELECT 1"})
    planned = resolve_evaluators(run)
    assert [(p.name, p.output_types) for p in planned] == [
        ("exact_match", frozenset({"sql"})),
        ("label_match", frozenset({"classification"})),
        ("text_normalized_match", frozenset({"text"})),
    ]
    evaluate_run(run)
    assert set(rows(run)) == {
        (label.pk, "label_match"),
        (text.pk, "text_normalized_match"),
        (odd.pk, "exact_match"),
    }
    assert Evaluation.objects.filter(passed=True).count() == 3


def test_explicit_evaluators_apply_to_every_response_with_their_params():
    run = make_run()
    a = respond(run, make_case("text", {"text": "the cat sat"}), {"text": "a cat sat down"})
    b = respond(run, make_case("text", {"text": "Paris"}), {"text": "paris"})
    evaluate_run(run, ['token_f1:{"threshold": 0.9}', "text_normalized_match"])
    assert set(rows(run)) == {
        (r.pk, name) for r in (a, b) for name in ("token_f1", "text_normalized_match")
    }
    f1 = Evaluation.objects.get(response=a, evaluator_type="token_f1")
    assert f1.score == pytest.approx(0.8)  # SQuAD: drops "the"/"a"; 2 shared of 2 and 3 tokens
    assert f1.passed is False and f1.metrics["params"] == {"threshold": 0.9}


def test_run_config_evaluators_are_used_when_none_are_named():
    run = make_run(evaluators=["rouge_l", {"name": "label_match", "params": {"ignore_case": True}}])
    respond(run, make_case("classification", {"label": "Cat"}), {"label": "cat"})
    evaluate_run(run)
    assert Evaluation.objects.get(evaluator_type="label_match").passed is True
    assert Evaluation.objects.filter(evaluator_type="rouge_l").count() == 1
    # Named evaluators win over the config.
    evaluate_run(run, ["exact_match"])
    assert Evaluation.objects.filter(evaluator_type="exact_match").count() == 1


@pytest.mark.parametrize(
    "specs, message",
    [
        (["no_such_thing"], "unknown evaluator 'no_such_thing'"),
        (['iou:{"iou_treshold": 0.7}'], "unknown parameter 'iou_treshold' for evaluator iou"),
        (['iou:{"iou_threshold": 7}'], '"iou_threshold" must be <= 1'),
        (["iou:{oops"], "parameters of iou are not valid JSON"),
        (["rouge_l", "rouge_l"], "rouge_l is named twice"),
        ([{"name": "iou", "parameters": {}}], "unknown key 'parameters'"),
    ],
)
def test_bad_spec_fails_before_anything_is_written(classification_run, specs, message):
    run, _ = classification_run
    with pytest.raises(EvaluatorConfigError, match=message.replace("(", r"\(")):
        evaluate_run(run, ["label_match", *specs])
    assert not Evaluation.objects.exists()


def test_bad_run_config_names_the_config():
    run = make_run(evaluators=[{"name": "bleu", "params": {"smooth": "yes"}}])
    respond(run, make_case("text", {"text": "x"}), {"text": "x"})
    with pytest.raises(EvaluatorConfigError, match='run config "evaluators"'):
        evaluate_run(run)


def test_planned_evaluators_survive_json():
    planned = PlannedEvaluator("ndcg_at_k", {"k": 5, "threshold": 0.5}, frozenset({"x"}))
    assert PlannedEvaluator.from_json(planned.as_json()) == planned


def test_chunks_are_exact_when_runs_interleave():
    run, other = make_run(), make_run()
    mine = []
    for _ in range(7):
        case = make_case("classification", {"label": "a"})
        mine.append(respond(run, case, {"label": "a"}).pk)
        respond(other, case, {"label": "b"})
    bounds = chunk_bounds(run.pk, 3)
    assert [count for *_, count in bounds] == [3, 3, 1]
    assert bounds[0][:2] == (mine[0], mine[2]) and bounds[-1][:2] == (mine[6], mine[6])


def test_empty_run_scores_nothing():
    result = evaluate_run(make_run())
    assert (result.responses, result.evaluations, result.evaluators) == (0, 0, [])


def command(*args) -> list[str]:
    out = io.StringIO()
    call_command("evaluate_run", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


def test_command_reports_evaluated_responses(classification_run):
    run, _ = classification_run
    assert command(str(run.pk))[-1] == "evaluated 5 responses"
    lines = command(str(run.pk), "--evaluator", "label_match", "--evaluator", "exact_match")
    assert lines[-1] == "evaluated 5 responses"
    assert "exact_match: 5 verdicts" in lines
    assert Evaluation.objects.count() == 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["--evaluator", 'iou:{"iou_threshold": "high"}'], "iou_threshold"),
        (["--evaluator", "nope"], "unknown evaluator 'nope'"),
        (["--chunk-size", "0"], "--chunk-size"),
    ],
)
def test_command_rejects_bad_input_and_writes_nothing(classification_run, args, message):
    run, _ = classification_run
    with pytest.raises(CommandError, match=message):
        command(str(run.pk), *args)
    assert not Evaluation.objects.exists()


def test_command_rejects_a_missing_run():
    with pytest.raises(CommandError, match="run 999999 does not exist"):
        command("999999")


def test_resolved_evaluators_pass_through_with_their_output_types():
    run = make_run()
    respond(run, make_case("classification", {"label": "a"}), {"label": "a"})
    respond(run, make_case("text", {"text": "a"}), {"text": "a"})
    planned = resolve_evaluators(run)
    assert resolve_evaluators(run, planned) == planned
    assert evaluate_run(run, planned).evaluations == 2


def test_seed_scores_the_runs_it_creates_through_the_pipeline():
    first = io.StringIO()
    call_command("seed_user_data", stdout=first)
    written = Evaluation.objects.count()
    assert first.getvalue().strip().splitlines()[-1].endswith(f" {written} evaluations")
    for run in ModelRun.objects.all():
        responses = run.responses.count()
        by_type = dict(
            Evaluation.objects.for_run(run)
            .values_list("evaluator_type")
            .annotate(n=Count("id"))
            .values_list("evaluator_type", "n")
        )
        expected = {
            "qa-v1": ["text_normalized_match", "token_f1"],
            "summary-v1": ["bleu", "rouge_l"],
        }.get(run.config["seed_key"])
        if expected:
            assert by_type == dict.fromkeys(expected, responses)
        else:
            assert sum(by_type.values()) == responses > 0
    assert Evaluation.objects.filter(passed=True).exists()
    assert Evaluation.objects.filter(passed=False).exists()
    again = io.StringIO()
    call_command("seed_user_data", stdout=again)
    assert again.getvalue().strip().splitlines()[-1] == "seeded: 0 cases, 0 runs, 0 evaluations"
    assert Evaluation.objects.count() == written


def test_a_named_evaluator_that_does_not_fit_a_case_is_not_a_curation_error():
    run = make_run()
    label = respond(run, make_case("classification", {"label": "cat"}), {"label": "cat"})
    broken = respond(run, make_case("text", {"txt": "typo"}), {"text": "a"})
    result = evaluate_run(run, ["rouge_l"])
    assert (result.not_applicable, result.curation_errors) == (1, 1)
    misfit = Evaluation.objects.get(response=label)
    assert misfit.metrics["not_applicable"] is True and "ground_truth_error" not in misfit.metrics
    assert misfit.feedback.startswith("rouge_l does not apply to this case's output type")
    curation = Evaluation.objects.for_run(run).curation_errors()
    assert list(curation.values_list("response", flat=True)) == [broken.pk]


def test_answers_holding_a_literal_backslash_u0000_are_stored_and_rescored_intact():
    """Six characters `\\u0000` in an answer are text, not a NUL: pushed as JSONL, scored and
    scored again, the verdicts keep them as the model wrote them and the rest of the chunk is
    scored too. (Replacing `\\u0000` in the encoded metrics turned `"C:\\\\u0000"` into
    `"C:\\"`, broken JSON, so the whole chunk failed on every re-score.)"""
    answers = ["C:\\u0000", "a\\u0000b", "cat", "\\\\u0000\\"]
    assert [len(a) for a in answers] == [8, 8, 3, 8]  # backslashes, not NULs
    cases = [
        make_case(
            "classification", {"label": "cat"}, model_type="nlp", origin="human", is_verified=True
        )
        for _ in answers
    ]
    run = register_run(model_name="m", model_version="1", model_type="nlp")
    lines = [
        json.dumps({"test_case_id": case.pk, "output_data": {"label": answer}})
        for case, answer in zip(cases, answers, strict=True)
    ]
    ingest_responses(run, lines)
    by_case = {r.test_case_id: r for r in Response.objects.filter(run=run)}
    assert [by_case[c.pk].output_data["label"] for c in cases] == answers

    for _ in range(2):  # the first scoring and a re-score
        result = evaluate_run(run)
        assert result.responses == result.evaluations == 4
        stored = {
            e.response.test_case_id: e
            for e in Evaluation.objects.filter(response__run=run).select_related("response")
        }
        assert [stored[c.pk].metrics["predicted"] for c in cases] == answers
        assert [stored[c.pk].passed for c in cases] == [False, False, True, False]
        assert all(answers[i] in stored[c.pk].feedback for i, c in enumerate(cases))
