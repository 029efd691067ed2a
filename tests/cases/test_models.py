"""TestCase rules hold in PostgreSQL itself, whoever writes the row."""

import pytest
from django.db import IntegrityError, connection, transaction
from model_bakery import baker

from cases.models import TestCase

INSERT = """
    INSERT INTO test_cases (input_data, input_type, ground_truth, output_type, model_type,
                            category, input_format, origin, difficulty, metadata)
    VALUES (%s::jsonb, %s, '{"label": "cat"}'::jsonb, 'classification', 'nlp', '', '', %s, %s,
            %s::jsonb)
    RETURNING id
"""


def raw_insert(
    input_data='{"text": "hi"}', input_type="text", origin="human", difficulty="", metadata="{}"
):
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [input_data, input_type, origin, difficulty, metadata])
        return cursor.fetchone()[0]


@pytest.mark.django_db
class TestConstraints:
    def test_a_valid_raw_insert_gets_database_defaults(self):
        case = TestCase.objects.get(pk=raw_insert())
        assert case.origin == "human" and case.is_verified is True
        assert case.tags == [] and case.metadata == {}
        assert case.created_at is not None and case.updated_at is not None

    @pytest.mark.parametrize(
        ("kwargs", "constraint"),
        [
            ({"origin": "robot"}, "cases_testcase_origin_valid"),
            ({"difficulty": "extreme"}, "cases_testcase_difficulty_valid"),
            ({"input_type": ""}, "cases_testcase_types_required"),
            ({"input_data": '["not", "an", "object"]'}, "cases_testcase_input_is_object"),
            ({"metadata": '"a string"'}, "cases_testcase_metadata_is_object"),
        ],
    )
    def test_bad_rows_are_rejected_by_the_database(self, kwargs, constraint):
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            raw_insert(**kwargs)
        assert not TestCase.objects.exists()


@pytest.mark.django_db
class TestUpdatedAt:
    def test_save_moves_updated_at(self):
        case = baker.make(TestCase, input_data={"text": "a"}, ground_truth={"label": "x"})
        before = TestCase.objects.values_list("updated_at", flat=True).get(pk=case.pk)
        case.category = "sentiment"
        case.save()
        after = TestCase.objects.values_list("updated_at", flat=True).get(pk=case.pk)
        assert after > before

    def test_bulk_update_moves_updated_at(self):
        baker.make(TestCase, input_data={"text": "a"}, ground_truth={}, _quantity=3)
        before = dict(TestCase.objects.values_list("id", "updated_at"))
        assert TestCase.objects.all().update(is_verified=False) == 3
        after = dict(TestCase.objects.values_list("id", "updated_at"))
        assert all(after[pk] > before[pk] for pk in before)


@pytest.mark.django_db
def test_golden_set_is_human_and_verified():
    make = lambda **kw: baker.make(TestCase, input_data={"q": 1}, ground_truth={}, **kw)  # noqa: E731
    golden = make(origin="human", is_verified=True)
    make(origin="human", is_verified=False)
    reviewed_ai = make(origin="ai-generated", is_verified=True)
    waiting_ai = make(origin="ai-generated", is_verified=False)
    assert list(TestCase.objects.golden()) == [golden]
    assert set(TestCase.objects.in_scope("verified")) == {golden, reviewed_ai}
    assert TestCase.objects.in_scope("all").count() == 4
    assert list(TestCase.objects.awaiting_review()) == [waiting_ai]


@pytest.mark.django_db
def test_search_vector_is_generated_from_input_and_ground_truth():
    baker.make(TestCase, input_data={"text": "Lisbon trams"}, ground_truth={"label": "travel"})
    baker.make(TestCase, input_data={"text": "Oslo"}, ground_truth={"label": "other"})
    from django.contrib.postgres.search import SearchQuery

    assert (
        TestCase.objects.filter(search_vector=SearchQuery("lisbon", config="simple")).count() == 1
    )
    assert (
        TestCase.objects.filter(search_vector=SearchQuery("travel", config="simple")).count() == 1
    )
