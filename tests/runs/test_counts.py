"""A run's completed / failed counts always equal its responses, whoever deletes what."""

import pytest
from model_bakery import baker

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response, RunCase


@pytest.fixture
def answered(run, golden):
    ingest_responses(
        run,
        [
            {"test_case_id": c.pk, "output_data": {}, "error_message": "boom" if i < 2 else None}
            for i, c in enumerate(golden)
        ],
    )
    run.refresh_from_db()
    assert (run.completed_cases, run.failed_cases) == (6, 2)
    return run


def test_deleting_cases_recounts_their_runs(answered, golden):
    golden[0].delete()  # failed
    TestCase.objects.filter(pk__in=[golden[5].pk, golden[6].pk]).delete()  # completed
    answered.refresh_from_db()
    assert (answered.completed_cases, answered.failed_cases) == (4, 1)
    assert RunCase.objects.filter(run=answered).count() == 8  # the run's own case set stays


def test_deleting_responses_directly_recounts(answered):
    Response.objects.filter(run=answered, error_message="").delete()
    answered.refresh_from_db()
    assert (answered.completed_cases, answered.failed_cases) == (0, 2)


def test_recount_repairs_counts_written_by_hand(answered):
    ModelRun.objects.filter(pk=answered.pk).update(completed_cases=0, failed_cases=0)
    answered.recount()
    assert (answered.completed_cases, answered.failed_cases) == (6, 2)


def test_the_delete_trigger_never_raises_counts_it_did_not_keep(db, golden):
    """Rows written outside mleval's paths (fixtures, SQL) never make a cascade fail."""
    run = baker.make(ModelRun, model_type="nlp")  # total 0, counts 0
    for case in golden[:3]:
        baker.make(Response, run=run, test_case=case, output_data={})
    golden[0].delete()
    run.refresh_from_db()
    assert (run.completed_cases, run.failed_cases) == (0, 0)


def test_deleting_runs_takes_responses_and_verdicts_in_sql(
    answered, golden, django_assert_max_num_queries
):
    for response in Response.objects.filter(run=answered)[:3]:
        baker.make(
            Evaluation, response=response, evaluator_type="exact_match", score=1, passed=True
        )
    # One DELETE per table reached (jobs, grading tasks/items/assignments, rate limits, run
    # cases, verdicts, responses, ...), whatever the number of rows.
    with django_assert_max_num_queries(18):
        total, counts = answered.delete()
    assert counts["runs.Response"] == 8 and counts["evaluations.Evaluation"] == 3
    assert counts["runs.ModelRun"] == 1 and counts["runs.RunCase"] == 8
    assert total == sum(counts.values())
    assert not Response.objects.exists() and not Evaluation.objects.exists()
    assert TestCase.objects.count() == 10
