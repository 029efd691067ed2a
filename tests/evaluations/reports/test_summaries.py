"""Run summaries: the triggers that mark them stale, the refresh, serving, the comparison cache,
and the property that a figure served as current is always the figure recomputed now."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import TestCase
from evaluations import summaries, summary_store
from evaluations.models import ComparisonSummary, Evaluation, RunSummary
from evaluations.pipeline import evaluate_run
from evaluations.reports import build_run_report, compare_runs
from jobs.signals import ANALYZE_MIN_ROWS, wrote
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.selection import register_run

LABELS = ("positive", "negative", "neutral")


def normal(value):
    """What a report looks like once through JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def served(run: ModelRun) -> tuple[dict, str]:
    """The report as pages serve it, without its summary block, and the summary's state."""
    report = summaries.run_report(run)
    return report, report.pop("summary")["state"]


def refresh(*runs: ModelRun) -> dict:
    """What the worker does with a queued refresh (the task's own function, run here)."""
    return summary_store.refresh_summaries_task.call([run.pk for run in runs])


def line(case_id: int, label: str, latency: int) -> str:
    return json.dumps(
        {"test_case_id": case_id, "output_data": {"label": label}, "latency_ms": latency}
    )


@pytest.fixture
def golden(db) -> list[TestCase]:
    return [
        TestCase.objects.create(
            input_data={"text": f"t{i}"},
            input_type="text",
            ground_truth={"label": LABELS[i % 3]},
            output_type="classification",
            model_type="nlp",
            category=("billing", "shipping")[i % 2],
            difficulty=("easy", "hard")[i % 2],
            tags=["a"] if i % 3 else ["a", "b"],
        )
        for i in range(12)
    ]


def scored_run(golden, version: str, shift: int = 0) -> ModelRun:
    run = register_run(model_name="m", model_version=version, model_type="nlp")
    ingest_responses(
        run, [line(case.pk, LABELS[(i + shift) % 3], 10 + 7 * i) for i, case in enumerate(golden)]
    )
    evaluate_run(run, ["label_match"])
    return run


def test_writes_move_the_versions_of_the_runs_they_touch_only(golden):
    run = scored_run(golden, "1")
    other = scored_run(golden[:6], "2")
    before = summary_store.data_versions([run.pk, other.pk])

    def moved() -> set[int]:
        nonlocal before
        now = summary_store.data_versions([run.pk, other.pk])
        changed = {run_id for run_id in now if now[run_id] != before[run_id]}
        before = now
        return changed

    Evaluation.objects.filter(response__run=run).update(score=0.5)  # a set-based update
    assert moved() == {run.pk}
    TestCase.objects.filter(pk=golden[-1].pk).update(category="returns")  # only run answered it
    assert moved() == {run.pk}
    TestCase.objects.filter(pk=golden[0].pk).update(difficulty="medium")  # both answered it
    assert moved() == {run.pk, other.pk}
    Response.objects.filter(run=other, test_case=golden[1]).delete()  # walker: verdicts first
    assert moved() == {other.pk}
    TestCase.objects.filter(pk=golden[2].pk).delete()  # cascades to both runs' responses
    assert moved() == {run.pk, other.pk}
    ModelRun.objects.filter(pk=run.pk).update(config={"positive_label": "positive"})
    assert moved() == {run.pk}
    ModelRun.objects.filter(pk=run.pk).update(heartbeat_at=None, status="completed")
    assert moved() == set()  # progress and status are not figures
    cases_version = summary_store.case_set_version()
    TestCase.objects.create(
        input_data={}, input_type="text", ground_truth={"label": "x"}, output_type="classification"
    )
    assert summary_store.case_set_version() == cases_version + 1 and moved() == set()


def test_a_stale_summary_is_served_as_updating_then_refreshed(golden, viewer, login):
    run = scored_run(golden, "1")
    report, state = served(run)  # the first view computes it
    assert state == "fresh" and report == normal(build_run_report(run))
    before = report["evaluators"]["label_match"]["pass_rate"]

    ingest_responses(run, [line(case.pk, "neutral", 5) for case in golden[:4]], replace=True)
    evaluate_run(run, ["label_match"])
    report, state = served(run)
    assert state == "computing"  # the last figures, never shown as current
    assert report["evaluators"]["label_match"]["pass_rate"] == before
    assert DBTaskResult.objects.filter(task_path__endswith="refresh_summaries_task").count() == 1
    html = login(viewer).get(f"/runs/{run.pk}/report/").content.decode()
    assert 'id="summary-state"' in html and "Updating…" in html
    assert summary_store.request_refresh([run.pk]) == []  # queued once per version

    Evaluation.objects.filter(response__run=run).update(feedback="again")  # while queued
    assert served(run)[1] == "stale"  # the last figures still, and no second refresh
    assert DBTaskResult.objects.filter(task_path__endswith="refresh_summaries_task").count() == 1
    assert summary_store.request_refresh([run.pk]) == [run.pk]  # a job's end always queues

    assert refresh(run) == {"computed": [run.pk], "fresh": [], "queued_again": []}
    report, state = served(run)
    assert state == "fresh" and report == normal(build_run_report(run))
    assert report["evaluators"]["label_match"]["pass_rate"] != before
    assert refresh(run) == {"computed": [], "fresh": [run.pk], "queued_again": []}
    summary = RunSummary.objects.get(pk=run.pk)
    assert summary.pass_rate == report["evaluators"]["label_match"]["pass_rate"]
    assert summary.latency_p95 == report["latency_ms"]["p95"]


def refreshes_queued() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="refresh_summaries_task").count()


def test_a_grade_is_never_served_as_current_and_its_hook_queues_refreshes_back_to_back(
    golden, monkeypatch, django_capture_on_commit_callbacks
):
    """A human grade (an evaluation "human", as grading writes it) moves the run's data version
    through the triggers; summary_store.verdicts_changed queues the refresh after commit,
    throttled: a burst of grades queues one, which queues the next if graded meanwhile."""
    run = scored_run(golden, "1")
    served(run)
    response = run.responses.order_by("pk").first()

    def grade(passed: bool) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            Evaluation.objects.update_or_create(
                response=response,
                evaluator_type="human",
                defaults={"score": float(passed), "passed": passed, "metrics": {"grader": "a"}},
            )
            summary_store.verdicts_changed([run.pk])

    grade(True)
    report, state = served(run)
    assert state == "computing" and "human" not in report["evaluators"]  # the last figures
    assert refreshes_queued() == 1
    grade(False)  # while that refresh is pending
    assert refreshes_queued() == 1 and served(run)[1] != "fresh"

    figures = summary_store.report_figures

    def graded_while_computing(run):
        computed = figures(run)
        grade(True)  # after the versions were read, before the summary is stored
        return computed

    monkeypatch.setattr(summary_store, "report_figures", graded_while_computing)
    assert refresh(run) == {"computed": [run.pk], "fresh": [], "queued_again": [run.pk]}
    assert refreshes_queued() == 2 and served(run)[1] == "computing"
    monkeypatch.undo()
    assert refresh(run)["queued_again"] == []
    report, state = served(run)
    assert state == "fresh" and report == normal(build_run_report(run))
    assert report["evaluators"]["human"]["passed"] == 1


def test_new_cases_make_only_the_drift_stale(golden):
    run = scored_run(golden, "1")
    served(run)
    TestCase.objects.create(  # joins the run's selection (the nlp golden set)
        input_data={}, input_type="text", ground_truth={"label": "x"}, output_type="classification",
        model_type="nlp",
    )  # fmt: skip
    report, state = served(run)
    assert (
        state == "computing"
        and report["cases"]["selection_drift"] is None
        or (report["cases"]["selection_drift"]["added"] == 0)
    )
    refresh(run)
    report, state = served(run)
    assert state == "fresh" and report["cases"]["selection_drift"]["added"] == 1
    assert report == normal(build_run_report(run))


def test_deleting_a_run_takes_its_summary_and_comparisons(golden):
    run_a, run_b = scored_run(golden, "1"), scored_run(golden, "2", shift=1)
    served(run_a)
    summaries.comparison(run_a, run_b)
    run_a.delete()
    assert not RunSummary.objects.filter(pk=run_a.pk).exists()
    assert not ComparisonSummary.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM run_data_versions WHERE run_id = %s", [run_a.pk])
        assert cursor.fetchone()[0] == 0


def test_comparisons_are_cached_per_pair_of_versions(golden, django_assert_max_num_queries):
    run_a, run_b = scored_run(golden, "1"), scored_run(golden, "2", shift=1)
    first = summaries.comparison(run_a, run_b)
    assert first == normal(compare_runs(run_a, run_b))
    # Versions, the cached row and the trust's fingerprint (read now); no case list asked.
    with django_assert_max_num_queries(3):
        again = summaries.comparison(run_a, run_b, case_limit=0)
    assert again == {**first, "cases": []}
    Evaluation.objects.filter(response__run=run_a, response__test_case=golden[0]).update(
        passed=False, score=0.0
    )
    assert summaries.comparison(run_a, run_b) == normal(compare_runs(run_a, run_b))
    assert summaries.comparison(run_a, run_b) != first


def reltuples(table: str) -> float:
    """The planner's row count for a table (ANALYZE sets it; a small table is read whole)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def test_a_job_end_analyzes_what_it_grew_and_queues_the_refresh(
    golden, django_capture_on_commit_callbacks
):
    run = scored_run(golden, "1")
    served(run)
    analyze("evaluations", "responses")
    with connection.cursor() as cursor:  # 1,200 more verdicts, as a scoring job writes them
        cursor.execute(
            "INSERT INTO evaluations (response_id, evaluator_type, score, passed) "
            "SELECT r.id, 'e' || i, 1, true FROM responses r, generate_series(1, 100) i "
            "WHERE r.run_id = %s",
            [run.pk],
        )
        cursor.execute("UPDATE pg_class SET reltuples = 1 WHERE relname = 'responses'")
    grown = Evaluation.objects.count()
    responses = reltuples("responses")
    with django_capture_on_commit_callbacks(execute=True):
        wrote({"evaluations": 1200, "responses": 1}, [run.pk], sender=None)
    assert reltuples("evaluations") == grown  # analyzed after the commit
    assert reltuples("responses") == responses == 1  # one row: left to autovacuum
    summary = RunSummary.objects.get(pk=run.pk)
    assert summary.requested_version == summary_store.data_versions([run.pk])[run.pk]
    assert DBTaskResult.objects.filter(task_path__endswith="refresh_summaries_task").exists()


def test_a_case_import_leaves_the_planner_statistics_current(
    db, django_capture_on_commit_callbacks
):
    from cases.importing import import_cases

    analyze("test_cases")
    lines = "".join(
        json.dumps(
            {
                "input_data": {"text": f"case {i}"},
                "input_type": "text",
                "ground_truth": {"label": "a"},
                "output_type": "classification",
            }
        )
        + "\n"
        for i in range(ANALYZE_MIN_ROWS)
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = import_cases(io.BytesIO(lines.encode()), file_format="jsonl")
    assert report.imported == ANALYZE_MIN_ROWS
    assert reltuples("test_cases") == TestCase.objects.count()


# --- exactness -----------------------------------------------------------------------------

WRITES = st.one_of(
    st.tuples(st.just("score"), st.sampled_from(["label_match", "exact_match"])),
    st.tuples(st.just("reimport"), st.integers(0, 11), st.integers(1, 6), st.integers(0, 2)),
    st.tuples(st.just("delete_cases"), st.integers(0, 11), st.integers(1, 3)),
    st.tuples(st.just("delete_responses"), st.integers(0, 11), st.integers(1, 4)),
    st.tuples(st.just("edit_case"), st.integers(0, 11), st.sampled_from(["billing", "returns"])),
    st.tuples(st.just("unscore"), st.sampled_from(["label_match", "exact_match"])),
)


def apply(write: tuple, run: ModelRun, golden: list[TestCase]) -> None:
    """One write, through the path the application takes for it."""
    kind, *args = write
    alive = [case for case in golden if TestCase.objects.filter(pk=case.pk).exists()]
    if kind == "score":
        evaluate_run(run, [args[0]])
    elif kind == "unscore":
        Evaluation.objects.filter(response__run=run, evaluator_type=args[0]).delete()
    elif kind == "reimport":
        start, count, shift = args
        lines = [
            line(case.pk, LABELS[(i + shift) % 3], 3 + 11 * i)
            for i, case in enumerate(alive[start : start + count])
        ]
        if lines:
            ingest_responses(run, lines, replace=True)
    elif kind == "delete_cases":
        start, count = args
        TestCase.objects.filter(pk__in=[c.pk for c in alive[start : start + count]]).delete()
    elif kind == "delete_responses":
        start, count = args
        ids = list(Response.objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
        Response.objects.filter(pk__in=ids[start : start + count]).delete()
    elif kind == "edit_case":
        index, category = args
        TestCase.objects.filter(pk__in=[c.pk for c in alive[index : index + 1]]).update(
            category=category, tags=["c"]
        )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(WRITES, min_size=1, max_size=6))
def test_a_summary_served_as_current_always_equals_a_recomputation(golden, writes):
    with transaction.atomic():  # each example starts from the same rows
        run = scored_run(golden, "p")
        served(run)
        for write in writes:
            apply(write, run, golden)
            run.refresh_from_db()
            report, state = served(run)
            if state == "fresh":  # the write changed nothing the report reads
                assert report == normal(build_run_report(run)), write
            refresh(run)
            report, state = served(run)
            assert state == "fresh"
            assert report == normal(build_run_report(run)), write
        transaction.set_rollback(True)


def test_the_run_list_sorts_by_the_summaries_headline(golden, viewer, login):
    good, bad = scored_run(golden, "good"), scored_run(golden, "bad", shift=1)
    never = register_run(model_name="m", model_version="never", model_type="nlp")
    refresh(good, bad)
    client = login(viewer)
    html = client.get("/runs/?ordering=-pass_rate").content.decode()
    assert html.index(">good<") < html.index(">bad<") < html.index(">never<")  # no figure last
    assert "100%" in html and "0%" in html
    html = client.get("/runs/?ordering=pass_rate").content.decode()
    assert html.index(">bad<") < html.index(">good<") < html.index(">never<")
    html = client.get("/runs/?ordering=-latency_p95").content.decode()
    assert html.index(">good<") < html.index(">never<")
    assert "…" not in html  # both summaries current
    dashboard = client.get("/").content.decode()  # the latest runs, with the same columns
    assert "100%" in dashboard and "Latency p95" in dashboard
    Evaluation.objects.filter(response__run=good).update(passed=False)
    html = client.get("/runs/?ordering=-pass_rate").content.decode()
    assert "updating…" in html  # good's figure is the last one, marked
    assert never.pk


def test_deleting_an_empty_selection_deletes_nothing(golden):
    # Found by the property test: the cascade walker could not write SQL for pk__in=[].
    assert Response.objects.filter(pk__in=[]).delete() == (0, {})
    assert TestCase.objects.filter(pk__in=[]).delete() == (0, {})
    assert TestCase.objects.count() == len(golden)


def test_the_api_run_list_ignores_the_pages_summary_sorts(golden, engineer):
    from django.test import Client

    from accounts.models import ApiToken

    good, bad = scored_run(golden, "good"), scored_run(golden, "bad", shift=1)
    refresh(good, bad)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.objects.issue(engineer, 'tests')[1]}")
    for ordering in ("pass_rate", "-latency_p95"):  # cursor pages: newest first instead
        response = client.get(f"/api/v1/runs/?ordering={ordering}")
        assert response.status_code == 200
        assert [row["id"] for row in response.json()["results"]] == [bad.pk, good.pk]
        cursor = response.json().get("next")
        assert cursor is None or client.get(cursor).status_code == 200
