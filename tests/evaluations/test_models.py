"""Evaluation rules hold in PostgreSQL itself."""

import pytest
from django.db import IntegrityError, connection, transaction
from model_bakery import baker

from cases.models import TestCase
from runs.models import ModelRun, Response

INSERT = """
    INSERT INTO evaluations (response_id, evaluator_type, score, passed, metrics, feedback)
    VALUES (%s, %s, %s, %s, '{}', '') RETURNING id
"""


@pytest.fixture
def response(db):
    case = baker.make(TestCase, input_data={"text": "x"}, ground_truth={"label": "a"})
    run = baker.make(ModelRun, model_type="nlp")
    return baker.make(Response, run=run, test_case=case, output_data={})


def insert(response_id, evaluator="label_match", score=0.5, passed=False):
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [response_id, evaluator, score, passed])


@pytest.mark.parametrize("score", [1.5, -0.1, float("nan")])
def test_score_outside_unit_range_is_rejected(response, score):
    with pytest.raises(IntegrityError, match="score_in_unit_range"), transaction.atomic():
        insert(response.pk, score=score)


def test_one_verdict_per_response_and_evaluator(response):
    insert(response.pk, "label_match")
    insert(response.pk, "exact_match")
    with pytest.raises(IntegrityError, match="one_per_evaluator"), transaction.atomic():
        insert(response.pk, "label_match")


def test_evaluation_without_a_response_is_rejected(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(123456789)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
