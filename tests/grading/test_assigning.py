"""Sampling a run and dealing its responses to graders with an overlap."""

from collections import Counter

import pytest

from grading.assigning import SampleError, allocate, create_task, deal, sample_responses
from grading.models import Assignment


def test_every_response_gets_k_distinct_graders_and_loads_are_even(task, graded_run, graders):
    items = list(task.items.prefetch_related("assignments"))
    assert len(items) == len(graded_run.responses)  # the failed call is left out
    for item in items:
        chosen = [a.grader_id for a in item.assignments.all()]
        assert len(chosen) == 2 and len(set(chosen)) == 2
    loads = Counter(Assignment.objects.filter(item__task=task).values_list("grader", flat=True))
    assert set(loads) == {g.pk for g in graders}
    assert max(loads.values()) - min(loads.values()) <= 1


def test_a_response_already_in_a_task_is_not_sampled_again(task, graded_run, graders):
    with pytest.raises(SampleError) as error:
        create_task(graded_run.run, name="again", graders=graders, overlap=1)
    assert "run" in error.value.errors


def test_stratified_sample_keeps_every_stratum_and_is_reproducible(graded_run):
    rows, strata = sample_responses(
        graded_run.run, n=4, evaluator="llm_judge", slice_by="category", seed=7
    )
    assert len(rows) == 4
    assert set(strata) == {
        "llm_judge pass · category a",
        "llm_judge fail · category a",
        "llm_judge pass · category b",
        "llm_judge fail · category b",
    }
    assert {stratum for _, stratum in rows} == set(strata)  # one from each
    again, _ = sample_responses(
        graded_run.run, n=4, evaluator="llm_judge", slice_by="category", seed=7
    )
    assert again == rows
    others = {
        frozenset(
            r
            for r, _ in sample_responses(
                graded_run.run, n=4, evaluator="llm_judge", slice_by="category", seed=seed
            )[0]
        )
        for seed in range(8, 14)
    }
    assert len(others) > 1  # other seeds draw other samples (one per stratum of three each)


@pytest.mark.parametrize(
    ("counts", "n", "expected"),
    [
        ({"a": 90, "b": 10}, 10, {"a": 9, "b": 1}),
        ({"a": 98, "b": 1, "c": 1}, 5, {"a": 3, "b": 1, "c": 1}),
        ({"a": 3, "b": 3}, 50, {"a": 3, "b": 3}),
        ({"a": 5, "b": 5, "c": 5}, 2, {"a": 1, "b": 1, "c": 0}),
    ],
)
def test_allocation_is_proportional_with_a_floor(counts, n, expected):
    got = allocate(counts, n)
    assert sum(got.values()) == min(n, sum(counts.values()))
    assert got == expected


def test_deal_refuses_more_overlap_than_graders():
    with pytest.raises(SampleError):
        deal(3, ["a", "b"], 3)
    assert deal(3, ["a", "b", "c"], 2) == [["a", "b"], ["c", "a"], ["b", "c"]]


def test_only_people_allowed_to_grade_are_assigned(graded_run, viewer, graders):
    with pytest.raises(SampleError) as error:
        create_task(graded_run.run, name="x", graders=[viewer, graders[0]], overlap=1)
    assert "viewer" in error.value.errors["graders"][0]


def test_a_sample_records_its_strata(graded_run, graders):
    task = create_task(
        graded_run.run, name="s", graders=graders, overlap=3, n=5, evaluator="llm_judge", seed=1
    )
    assert task.items.count() == 5
    assert task.sample["strata"]["llm_judge pass"]["available"] == 6
    assert sum(s["taken"] for s in task.sample["strata"].values()) == 5


def test_raising_the_overlap_adds_graders_never_twice(task, graders, make_user, engineer, login):
    from accounts.roles import GRADER

    dave = make_user(GRADER, "dave")
    answer = login(engineer).post(
        f"/grading/tasks/{task.pk}/graders/",
        {"graders": [g.pk for g in [*graders, dave]], "overlap": 3},
    )
    assert answer.status_code == 302
    task.refresh_from_db()
    assert task.overlap == 3
    for item in task.items.prefetch_related("assignments"):
        chosen = [a.grader_id for a in item.assignments.all()]
        assert len(chosen) == 3 and len(set(chosen)) == 3
    assert Assignment.objects.filter(grader=dave).count() > 0


def test_raising_the_overlap_beyond_the_graders_is_refused(task, graders):
    from grading.assigning import raise_overlap

    with pytest.raises(SampleError):
        raise_overlap(task, graders, 4)
    assert Assignment.objects.filter(item__task=task).count() == 24
