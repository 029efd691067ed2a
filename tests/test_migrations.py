"""Every migration applies and reverses cleanly."""

import json

import pytest
from django.core.management import call_command
from django.db import connection


def table_names() -> set[str]:
    return set(connection.introspection.table_names())


@pytest.mark.django_db(transaction=True)
def test_migrate_cases_to_zero_and_back():
    assert {"test_cases", "model_runs", "responses", "evaluations"} <= table_names()
    call_command("migrate", "cases", "zero", verbosity=0)
    # runs, evaluations and the roles migration depend on cases, so they go first.
    assert not {"test_cases", "model_runs", "responses", "evaluations"} & table_names()
    call_command("migrate", verbosity=0)
    assert {"test_cases", "model_runs", "responses", "evaluations"} <= table_names()


@pytest.mark.django_db(transaction=True)
def test_roles_migration_reverses_and_reapplies():
    """Through the executor: `manage.py migrate` would re-create the roles in post_migrate."""
    from django.contrib.auth.models import Group
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", None)])
    assert not Group.objects.filter(name__in=["viewer", "curator", "engineer"]).exists()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    curator = Group.objects.get(name="curator")
    assert curator.permissions.filter(codename="change_testcase").exists()
    assert not curator.permissions.filter(codename="change_modelrun").exists()


@pytest.mark.django_db(transaction=True)
def test_judging_tallies_carry_over_the_cache_hits_verdicts_recorded():
    """Verdicts judged before migration 0010 said in their metrics what came from the judge
    cache: the migration counts it in a tally per run and evaluator."""
    from django.db.migrations.executor import MigrationExecutor
    from model_bakery import baker

    from evaluations.models import Evaluation, JudgingTally

    executor = MigrationExecutor(connection)
    executor.migrate([("evaluations", "0009_verdict_grader")])
    run = baker.make("runs.ModelRun", config={})
    responses = baker.make("runs.Response", run=run, _quantity=3)
    judged = {"judge": {"endpoint": "http://judge/v1", "model": "j"}}
    old = [
        {**judged, "calls": 2, "cached_calls": 1, "cached": False, "cost": 0.5},
        {**judged, "calls": 1, "cached_calls": 1, "cached": True, "cost": 0.25},
        {"error": "not judged"},
    ]
    for response, metrics in zip(responses, old, strict=True):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO evaluations (response_id, evaluator_type, score, passed, metrics) "
                "VALUES (%s, 'llm_judge', 1, true, %s::jsonb)",
                [response.pk, json.dumps(metrics)],
            )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    tally = JudgingTally.objects.get(run_id=run.pk)
    assert (tally.evaluator_type, tally.cached_verdicts, tally.cached_calls) == ("llm_judge", 1, 2)
    assert tally.cached_cost == pytest.approx(0.5 * 1 / 2 + 0.25)
    kept = Evaluation.objects.filter(response__run_id=run.pk).order_by("response_id")
    assert [e.metrics for e in kept] == old  # the verdicts keep what they were written from


@pytest.mark.django_db(transaction=True)
def test_endpoint_grammar_migration_keeps_every_stored_endpoint():
    """runs 0011 tightens the endpoint constraint: rows the old `[^\\s]+` admitted are
    rewritten to their ASCII form, or kept in the config as invalid_endpoint, never lost."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("runs", "0010_run_baseline")])
    old = {
        "kept": "python:runs.demo_models:sentiment_classifier",
        "idna": "openai:http://münchen.de/ä",
        "broken": "http://[",
    }
    with connection.cursor() as cursor:
        for name, endpoint in old.items():
            cursor.execute(
                "INSERT INTO model_runs (model_name, model_version, model_type, model_endpoint, "
                "selection_fingerprint) VALUES (%s, '1', 'nlp', %s, '')",
                [name, endpoint],
            )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT model_name, model_endpoint, config->>'invalid_endpoint' FROM model_runs"
        )
        rows = {name: (endpoint, kept) for name, endpoint, kept in cursor.fetchall()}
    assert rows == {
        "kept": (old["kept"], None),
        "idna": ("openai:http://xn--mnchen-3ya.de/%C3%A4", None),
        "broken": ("", "http://["),
    }
