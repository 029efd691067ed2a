"""Registering a run: its selection, fixed cases, total and fingerprint; the drift check."""

import pytest
from django.core.exceptions import ValidationError

from cases.models import TestCase
from cases.selection import SelectionError
from runs.models import RunCase
from runs.selection import Drift, register_run, selection_drift
from tests.baker_recipes import make_case
from tests.runs.conftest import SENTIMENT


def register(**fields):
    defaults = {"model_name": "m", "model_version": "1", "model_type": "nlp"}
    return register_run(**{**defaults, **fields})


def run_case_ids(run) -> set[int]:
    return set(RunCase.objects.filter(run=run).values_list("test_case_id", flat=True))


def test_default_selection_is_the_golden_set_of_the_model_type(golden):
    run = register(model_endpoint=SENTIMENT, config={"k": 3})
    assert run.config == {"k": 3, "selection": {"model_type": "nlp", "scope": "golden"}}
    assert run.total_cases == 8
    assert run_case_ids(run) == {case.pk for case in golden}
    assert len(run.selection_fingerprint) == 32
    assert run.status == "pending" and run.completed_cases == run.failed_cases == 0


def test_selection_filters_narrow_and_widen(golden):
    hard = make_case(difficulty="hard", tags=["sarcasm"])
    assert register(selection={"tags": ["sarcasm"]}).total_cases == 1
    assert register(selection={"difficulty": "hard"}).total_cases == 1
    widened = register(selection={"scope": "all"})
    assert widened.total_cases == 10  # golden + the hard one + the ai-generated one
    assert hard.pk in run_case_ids(widened)


def test_fingerprint_is_the_selection_fingerprint(golden):
    run = register()
    current = TestCase.objects.filter(pk__in=[c.pk for c in golden]).fingerprint()
    assert current == {"count": 8, "fingerprint": run.selection_fingerprint}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"selection": {"category": "nothing-here"}}, "No test case matches"),
        ({"selection": {"difficulty": "extreme"}}, "difficulty"),
    ],
)
def test_bad_selection_is_refused_and_nothing_written(golden, fields, message):
    with pytest.raises(SelectionError, match=message):
        register(**fields)
    assert not RunCase.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model_endpoint": "ftp://x"}, "model_endpoint"),
        ({"model_name": ""}, "model_name"),
        ({"config": ["not", "an", "object"]}, "config"),
    ],
)
def test_bad_run_fields_are_refused(golden, fields, field):
    with pytest.raises(ValidationError) as error:
        register(**fields)
    assert field in str(error.value)


class TestDrift:
    def test_no_drift(self, run):
        assert selection_drift(run) == Drift() and not selection_drift(run).changed

    def test_edited_added_removed_deleted_are_counted(self, run, golden):
        golden[0].ground_truth = {"label": "negative"}
        golden[0].save()
        make_case()  # a new golden nlp case: selected now, not in the run
        golden[1].delete()
        TestCase.objects.filter(pk=golden[2].pk).update(is_verified=False)  # edited out
        drift = selection_drift(run)
        assert drift == Drift(edited=1, added=1, removed=2, deleted=1)
        assert drift.changed

    def test_a_bulk_update_is_an_edit(self, run, golden):
        TestCase.objects.filter(pk__in=[golden[3].pk, golden[4].pk]).update(tags=["x"])
        assert selection_drift(run) == Drift(edited=2)

    def test_unrelated_cases_do_not_count(self, run):
        make_case(model_type="tabular")
        make_case(origin="ai-generated", is_verified=False)
        assert not selection_drift(run).changed
