"""label_scores, the narrow copy of label_match's probabilities the report reads: the
database's triggers keep it equal to the verdicts through every write (scoring, re-scoring,
deleting verdicts, deleting the run, truncating), and migration 0011 fills it from verdicts
already stored."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import TestCase
from evaluations.models import Evaluation, LabelScore
from evaluations.pipeline import evaluate_run
from evaluations.reports.scores import positive_scores
from jobs.signals import ANALYZE_MIN_ROWS
from runs.models import ModelRun, Response

OUTPUTS = [
    {"label": "spam", "scores": {"spam": 0.8, "ham": 0.2}},  # a distribution
    {"label": "ham", "confidence": 0.9},  # only the predicted label's probability
    {"label": "ham"},  # no probability: not covered
    {"label": "spam", "scores": {"spam": 0.7, "ham": 0.2}},  # malformed (sums to 0.9)
    {"label": "ham", "scores": {"spam": 0.35, "ham": 0.65}},
]
TRUTHS = ["spam", "spam", "ham", "ham", "ham"]


def _stored(run: ModelRun) -> dict[int, tuple]:
    """The run's label_scores rows by case, as the report reads them."""
    return {
        row.test_case_id: (
            row.actual,
            row.predicted,
            dict(zip(row.labels, row.probabilities, strict=True)) if row.labels else None,
            row.confidence,
        )
        for row in LabelScore.objects.filter(run=run)
    }


def _expected(run: ModelRun) -> dict[int, tuple]:
    """What the verdicts' metrics say, for the covered ones."""
    rows = {}
    for verdict in Evaluation.objects.filter(response__run=run).select_related("response"):
        metrics = verdict.metrics
        if "error" in metrics or ("scores" not in metrics and metrics["confidence"] is None):
            continue
        rows[verdict.response.test_case_id] = (
            metrics["actual"],
            metrics["predicted"],
            metrics.get("scores"),
            metrics["confidence"],
        )
    return rows


@pytest.fixture
def scored(build):
    run = build.run("filter", config={"positive_label": "spam"})
    cases = [build.case({"label": truth}) for truth in TRUTHS]
    for case, output in zip(cases, OUTPUTS, strict=True):
        build.respond(run, case, output)
    evaluate_run(run)
    return run, cases


def test_scoring_fills_one_row_per_covered_verdict(scored):
    run, cases = scored
    stored = _stored(run)
    assert stored == _expected(run)
    assert sorted(stored) == [cases[i].pk for i in (0, 1, 4)]
    assert stored[cases[1].pk] == ("spam", "ham", None, 0.9)
    # The report's arrays: the positive label's probability, whether the case is positive.
    p, y = positive_scores(run.pk, "spam")
    assert sorted(zip(p.tolist(), y.tolist(), strict=True)) == [
        (0.09999999999999998, True),  # 1 - 0.9: "ham" predicted with 0.9
        (0.35, False),
        (0.8, True),
    ]


def test_rescoring_updates_and_removes_rows(scored):
    run, cases = scored
    responses = {r.test_case_id: r for r in run.responses.all()}
    first, fifth = responses[cases[0].pk], responses[cases[4].pk]
    first.output_data = {"label": "ham", "scores": {"spam": 0.4, "ham": 0.6}}
    first.save()
    fifth.output_data = {"label": "ham", "scores": {"spam": 0.5, "ham": 0.6}}  # now malformed
    fifth.save()
    third = responses[cases[2].pk]
    third.output_data = {"label": "ham", "confidence": 0.75}  # now covered
    third.save()
    evaluate_run(run)
    stored = _stored(run)
    assert stored == _expected(run)
    assert stored[cases[0].pk] == ("spam", "ham", {"spam": 0.4, "ham": 0.6}, None)
    assert cases[4].pk not in stored
    assert stored[cases[2].pk] == ("ham", "ham", None, 0.75)


def test_deleting_verdicts_or_the_run_removes_rows(scored, build):
    run, cases = scored
    other = build.run("filter")
    build.judge(build.respond(other, cases[0], OUTPUTS[0]), "label_match")
    Evaluation.objects.filter(response__run=run, response__test_case=cases[1]).delete()
    assert sorted(_stored(run)) == [cases[0].pk, cases[4].pk]
    run.delete()
    assert not LabelScore.objects.filter(run_id=run.pk).exists()
    assert list(_stored(other)) == [cases[0].pk]  # another run's rows stay


def test_other_evaluators_and_odd_metrics_write_nothing(build):
    run = build.run("filter")
    case = build.case({"label": "spam"})
    response = build.respond(run, case, OUTPUTS[0])
    build.verdict(response, "exact_match", 1.0, metrics={"actual": "spam", "confidence": 0.5})
    # A label_match verdict written by hand without labels: skipped, the insert still works.
    build.verdict(response, "label_match", 1.0, metrics={"confidence": 0.5, "scores": {}})
    assert not LabelScore.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_migration_fills_the_table_and_truncating_empties_it(build):
    run = build.run("filter")
    for truth, output in zip(TRUTHS, OUTPUTS, strict=True):
        build.respond(run, build.case({"label": truth}), output)
    evaluate_run(run)
    expected = _expected(run)
    executor = MigrationExecutor(connection)
    executor.migrate([("evaluations", "0010_judging_tallies")])
    assert "label_scores" not in connection.introspection.table_names()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert _stored(run) == expected
    assert len(expected) == 3
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE evaluations")  # as the benchmarks start afresh
    assert not LabelScore.objects.exists()


def test_a_scoring_leaves_the_planner_statistics_current(build, django_capture_on_commit_callbacks):
    """A new run's rows are known to the planner once it is scored: on statistics from before,
    the AUC comparison's pairing of two runs estimated one row a side and paired them by a
    nested loop over both runs (quadratic: 25 s at 20,000 cases)."""
    run = build.run("filter")
    cases = TestCase.objects.bulk_create(
        TestCase(input_data={"i": i}, input_type="text", ground_truth={"label": "spam"},
                 output_type="classification")
        for i in range(ANALYZE_MIN_ROWS)
    )  # fmt: skip
    Response.objects.bulk_create(
        Response(run=run, test_case=case, output_data=OUTPUTS[0]) for case in cases
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE label_scores")
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_run(run)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'label_scores'")
        assert cursor.fetchone()[0] == LabelScore.objects.count() == ANALYZE_MIN_ROWS
