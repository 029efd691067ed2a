"""TestCaseFilterSet, filter by filter: the one definition of a selection."""

import datetime

import pytest
from django.db.models import F
from django.utils import timezone

from cases import filters
from cases.models import TestCase
from cases.selection import SelectionError, select_cases


def ids(selection: dict) -> set[int]:
    return set(select_cases(selection).values_list("id", flat=True))


@pytest.fixture
def cases(make_case, make_user):
    ana = make_user("curator", "ana")
    return {
        "nlp": make_case(created_by=ana),
        "vision": make_case(
            model_type="computer_vision",
            category="object_detection",
            input_type="image_path",
            input_data={"image_path": "/img/1.jpg", "lang": "xx"},
            output_type="bounding_boxes",
            ground_truth={"boxes": [{"label": "car", "bbox": [1, 2, 3, 4]}]},
            tags=["street", "night"],
            difficulty="hard",
            metadata={"licence": "CC-BY-4.0"},
        ),
        "ai_reviewed": make_case(origin="ai-generated", is_verified=True, tags=["synthetic"]),
        "ai_pending": make_case(
            origin="ai-generated",
            is_verified=False,
            tags=["synthetic", "en"],
            input_data={"text": "Oh great, another broken blender.", "lang": "en"},
            ground_truth={"label": "negative"},
        ),
        "human_unverified": make_case(is_verified=False, difficulty="medium"),
    }


@pytest.mark.django_db
class TestScope:
    def test_the_golden_set_is_the_default(self, cases):
        assert ids({}) == {cases["nlp"].pk, cases["vision"].pk}

    def test_verified_scope_adds_reviewed_ai_generated_cases(self, cases):
        assert ids({"scope": "verified"}) == {
            cases["nlp"].pk,
            cases["vision"].pk,
            cases["ai_reviewed"].pk,
        }

    def test_all_scope_has_every_case(self, cases):
        assert ids({"scope": "all"}) == {case.pk for case in cases.values()}

    def test_asking_for_ai_generated_or_unverified_widens_by_itself(self, cases):
        assert ids({"origin": "ai-generated"}) == {cases["ai_reviewed"].pk, cases["ai_pending"].pk}
        assert ids({"is_verified": "false"}) == {
            cases["ai_pending"].pk,
            cases["human_unverified"].pk,
        }


@pytest.mark.django_db
class TestFieldFilters:
    @pytest.mark.parametrize(
        ("selection", "expected"),
        [
            ({"model_type": "computer_vision"}, {"vision"}),
            ({"category": "object_detection"}, {"vision"}),
            ({"input_type": "image_path"}, {"vision"}),
            ({"output_type": "bounding_boxes"}, {"vision"}),
            ({"difficulty": "hard"}, {"vision"}),
            ({"scope": "all", "difficulty": "medium"}, {"human_unverified"}),
            ({"origin": "human", "scope": "all"}, {"nlp", "vision", "human_unverified"}),
            ({"is_verified": "true", "scope": "all"}, {"nlp", "vision", "ai_reviewed"}),
            ({"tags": "night,synthetic", "scope": "all"}, {"vision", "ai_reviewed", "ai_pending"}),
            ({"tags_all": "synthetic,en", "scope": "all"}, {"ai_pending"}),
            ({"created_by": "ana"}, {"nlp"}),
            ({"json": "lang=xx"}, {"vision"}),
            ({"json": "lang=en", "json_in": "input_data", "scope": "all"}, None),
            ({"json": "licence=CC-BY-4.0", "json_in": "metadata"}, {"vision"}),
            ({"json": "label=negative", "json_in": "ground_truth", "scope": "all"}, {"ai_pending"}),
            ({"q": "blender", "scope": "all"}, {"ai_pending"}),
            ({"q": "negative", "scope": "all"}, {"ai_pending"}),
            ({"q": "car", "scope": "all"}, {"vision"}),
        ],
    )
    def test_each_filter(self, cases, selection, expected):
        if expected is None:  # every case with lang=en in its input
            expected = {name for name in cases if name != "vision"}
        assert ids(selection) == {cases[name].pk for name in expected}

    def test_ids_filter_keeps_the_scope(self, cases):
        chosen = f"{cases['nlp'].pk},{cases['ai_pending'].pk}"
        assert ids({"ids": chosen}) == {cases["nlp"].pk}
        assert ids({"ids": chosen, "scope": "all"}) == {cases["nlp"].pk, cases["ai_pending"].pk}

    def test_created_date_range(self, cases):
        old = cases["vision"]
        TestCase.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - datetime.timedelta(days=40)
        )
        cutoff = (timezone.now() - datetime.timedelta(days=10)).date().isoformat()
        assert ids({"created_before": cutoff}) == {old.pk}
        assert ids({"created_after": cutoff}) == {cases["nlp"].pk}


@pytest.mark.django_db
class TestSort:
    def test_default_is_newest_first(self, cases):
        assert list(select_cases({"scope": "all"}).values_list("id", flat=True)) == sorted(
            (c.pk for c in cases.values()), reverse=True
        )

    @pytest.mark.parametrize("sort", ["category", "-category", "model_type", "-updated_at", "id"])
    def test_sorted_by_a_column_then_id(self, cases, sort):
        column = sort.lstrip("-")
        rows = list(select_cases({"scope": "all", "sort": sort}).values_list(column, "id"))
        assert rows == sorted(rows, reverse=sort.startswith("-"))

    @pytest.mark.parametrize("sort", ["input_data", "difficulty"])  # no index: not sortable
    def test_an_unknown_sort_is_an_error(self, cases, sort):
        with pytest.raises(SelectionError) as error:
            select_cases({"sort": sort})
        assert "sort" in error.value.errors


@pytest.mark.django_db
class TestBadSelections:
    @pytest.mark.parametrize(
        ("selection", "field"),
        [
            ({"difficulty": "impossible"}, "difficulty"),
            ({"origin": "robot"}, "origin"),
            ({"scope": "everything"}, "scope"),
            ({"created_after": "yesterday"}, "created_after"),
            ({"json": "no-equals-sign"}, "json"),
            ({"ids": "1,two"}, "ids"),
        ],
    )
    def test_a_bad_value_names_its_filter(self, selection, field):
        with pytest.raises(SelectionError) as error:
            select_cases(selection)
        assert field in error.value.errors

    def test_the_filterset_accepts_a_querydict(self, cases, rf):
        filterset = filters.TestCaseFilterSet(rf.get("/cases/", {"tags": "night"}).GET)
        assert list(filterset.qs.annotate(n=F("id")).values_list("n", flat=True)) == [
            cases["vision"].pk
        ]
