"""A run's case selection: registering a run over it, and telling how it drifted since.

The selection is the case list's filters (cases.filters.TestCaseFilterSet parameters), stored
in `config["selection"]`. Registration fixes the selected cases in `run_cases` (RunCase), which
execution calls and ingestion accepts, and stores a fingerprint of them; the run page compares
both with the selection's current cases.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from accounts.audit import record
from cases.models import TestCase
from cases.selection import SelectionError, canonical_selection, select_cases
from runs.connections import expand_connection
from runs.models import ModelRun, RunCase
from runs.trials import add_trials, trials_of
from versions.models import VersionCase


def normalize_selection(selection: dict | None, model_type: str) -> dict:
    """The selection as stored (cases.selection.canonical_selection), the run's model type
    explicit when the selection names none. Default (nothing chosen): the golden set of the
    run's model type. Raises SelectionError for bad filters."""
    if isinstance(selection, dict) and not selection.get("model_type"):
        selection = {**selection, "model_type": model_type}
    elif selection is None:
        selection = {"model_type": model_type}
    return canonical_selection(selection)


def cases_hash_sql(run_column: str) -> str:
    """SQL for the md5 of a run's fixed case ids, sorted (`run_column`: the run's id): equal
    hashes mean two runs were computed on the same cases, whatever their selections say."""
    return (
        "(SELECT md5(coalesce(string_agg(rc.test_case_id::text, ',' ORDER BY rc.test_case_id),"
        f" '')) FROM run_cases AS rc WHERE rc.run_id = {run_column})"
    )


class NothingSelected(SelectionError):
    """A well-formed selection that matches no case today (the API's 409, not a 400)."""


def register_run(
    *,
    model_name: str,
    model_version: str,
    model_type: str,
    model_endpoint: str = "",
    config: dict | None = None,
    selection: dict | None = None,
    version=None,
    created_by=None,
) -> ModelRun:
    """Create a run over its selection's cases, fixing them, `total_cases` and the fingerprint.

    The page, `create_run` and the API all register through here. A `connection:<name>`
    endpoint becomes the connection's, its settings copied into the config. Raises
    SelectionError (bad filters, or no case selected) or ValidationError (bad run fields, an
    unknown connection); writes nothing then. With `version` (a versions.Version), the run's
    cases are the version's (those that still exist: a response needs its case) and the
    selection is {"version": name}: there is no drift to watch, the contents are pinned.
    A config with ``"trials": k`` registers k sibling runs (runs.trials); this returns trial 1.
    """
    if not isinstance(config or {}, dict):
        raise ValidationError({"config": "The config must be a JSON object."})
    trials = trials_of(config or {})
    # A saved connection's settings are copied into the run (runs/connections.py).
    model_endpoint, config = expand_connection(model_endpoint or "", dict(config or {}))
    if version is not None:
        selection = {"version": version.name}
        cases = TestCase.objects.filter(
            pk__in=VersionCase.objects.filter(version=version).values("case_id")
        )
    else:
        selection = normalize_selection(selection, model_type)
        cases = select_cases(selection)
    run = ModelRun(
        model_name=model_name,
        model_version=model_version,
        model_type=model_type,
        model_endpoint=model_endpoint or "",
        config={**config, "selection": selection},
        version=version,
        created_by=created_by,
    )
    run.full_clean(exclude=["created_at"])
    with transaction.atomic():
        run.save()
        sql, params = cases.order_by().values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO run_cases (run_id, test_case_id) SELECT %s, id FROM ({sql}) AS s",
                [run.pk, *params],
            )
        fingerprint = _run_cases_fingerprint(run)
        if not fingerprint["count"]:
            raise NothingSelected({"selection": ["No test case matches this selection."]})
        run.total_cases = fingerprint["count"]
        run.selection_fingerprint = fingerprint["fingerprint"]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {cases_hash_sql('%s')}", [run.pk])
            run.cases_hash = cursor.fetchone()[0]
        run.save(update_fields=["total_cases", "selection_fingerprint", "cases_hash"])
        if trials > 1:  # repeated trials: k sibling runs of one group (runs.trials)
            add_trials(run, trials)
        record(created_by, "run.create", run, total_cases=run.total_cases, selection=selection)
    return run


def _run_cases_fingerprint(run: ModelRun) -> dict:
    return TestCase.objects.filter(
        pk__in=RunCase.objects.filter(run=run).values("test_case_id")
    ).fingerprint()


@dataclass(frozen=True)
class Drift:
    """How a run's selection differs now from the cases fixed when it was registered."""

    edited: int = 0  # still selected, changed since the run was registered
    added: int = 0  # selected now, not part of the run
    removed: int = 0  # part of the run, no longer selected (deleted or edited out)
    deleted: int = 0  # of `removed`: the case no longer exists
    error: str = ""  # the stored selection no longer parses (filters changed meaning)

    @property
    def changed(self) -> bool:
        return bool(self.edited or self.added or self.removed or self.error)


def selection_drift(run: ModelRun) -> Drift:
    """Compare the run's stored selection, as it selects today, with the run's fixed cases.

    The fingerprint answers "anything changed?" in one aggregate; only then are the kinds of
    change counted (three set queries on indexed columns).
    """
    if run.version_id is not None:
        return Drift()  # a version never changes: its runs cannot drift
    try:
        current = select_cases(run.selection)
    except SelectionError as error:
        return Drift(error=str(error))
    if current.fingerprint()["fingerprint"] == run.selection_fingerprint:
        return Drift()
    run_case_ids = RunCase.objects.filter(run=run).values("test_case_id")
    current_ids = current.order_by().values("id")
    run_cases = RunCase.objects.filter(run=run)
    return Drift(
        edited=current.filter(pk__in=run_case_ids, updated_at__gt=run.created_at).count(),
        added=current.exclude(pk__in=run_case_ids).count(),
        removed=run_cases.exclude(test_case_id__in=current_ids).count(),
        deleted=run_cases.filter(~Exists(TestCase.objects.filter(pk=OuterRef("test_case_id"))))
        .order_by()
        .count(),
    )
