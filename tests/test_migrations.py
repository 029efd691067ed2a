"""Every migration applies and reverses cleanly."""

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
