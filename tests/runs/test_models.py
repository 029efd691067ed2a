"""ModelRun and Response rules hold in PostgreSQL itself; deletes cascade per DATA_MODEL.md."""

import pytest
from django.db import IntegrityError, connection, transaction
from model_bakery import baker

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response


def sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone() if cursor.description else None


RUN_INSERT = """
    INSERT INTO model_runs (model_name, model_version, model_type, model_endpoint, config,
                            status, total_cases, completed_cases, failed_cases,
                            selection_fingerprint)
    VALUES ('m', '1', 'nlp', %s, '{}', %s, %s, %s, %s, '') RETURNING id
"""


def insert_run(endpoint="", status="pending", total=10, completed=0, failed=0):
    return sql(RUN_INSERT, [endpoint, status, total, completed, failed])[0]


@pytest.fixture
def case(db):
    return baker.make(TestCase, input_data={"text": "x"}, ground_truth={"label": "a"})


@pytest.mark.django_db
class TestRunConstraints:
    def test_valid_run(self):
        run = ModelRun.objects.get(pk=insert_run("python:runs.demo_models:sentiment_classifier"))
        assert run.status == "pending" and run.config == {}

    @pytest.mark.parametrize(
        ("kwargs", "constraint"),
        [
            ({"completed": 6, "failed": 5}, "runs_modelrun_counts_within_total"),
            ({"failed": -1}, "runs_modelrun_counts_not_negative"),
            ({"status": "exploded"}, "runs_modelrun_status_valid"),
            ({"endpoint": "ftp://models.example.com"}, "runs_modelrun_endpoint_valid"),
            ({"endpoint": "python:no-colon-function"}, "runs_modelrun_endpoint_valid"),
        ],
    )
    def test_bad_runs_are_rejected(self, kwargs, constraint):
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            insert_run(**kwargs)


@pytest.mark.django_db
class TestResponseConstraints:
    INSERT = """
        INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, memory_mb,
                               tokens_used)
        VALUES (%s, %s, '{}', %s, %s, %s) RETURNING id
    """

    def test_response_without_a_run_is_rejected(self, case):
        with pytest.raises(IntegrityError, match="run_id"), transaction.atomic():
            sql(self.INSERT, [987654, case.pk, 1, 1.0, 1])
            sql("SET CONSTRAINTS ALL IMMEDIATE")

    @pytest.mark.parametrize(
        ("values", "constraint"),
        [
            ((-1, None, None), "runs_response_latency_not_negative"),
            ((None, -0.5, None), "runs_response_memory_not_negative"),
            ((None, None, -3), "runs_response_tokens_not_negative"),
        ],
    )
    def test_negative_measurements_are_rejected(self, case, values, constraint):
        run_id = insert_run()
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            sql(self.INSERT, [run_id, case.pk, *values])

    def test_one_response_per_case_and_run(self, case):
        run_id = insert_run()
        sql(self.INSERT, [run_id, case.pk, 5, None, None])
        with (
            pytest.raises(IntegrityError, match="runs_response_one_per_case"),
            transaction.atomic(),
        ):
            sql(self.INSERT, [run_id, case.pk, 6, None, None])

    def test_json_null_output_is_a_valid_answer(self, case):
        run_id = insert_run()
        sql(
            "INSERT INTO responses (run_id, test_case_id, output_data) VALUES (%s, %s, 'null')",
            [run_id, case.pk],
        )
        assert Response.objects.get().output_data is None


@pytest.mark.django_db
class TestCascades:
    @pytest.fixture
    def graph(self, case):
        run = baker.make(ModelRun, model_type="nlp", total_cases=1, completed_cases=1)
        response = baker.make(Response, run=run, test_case=case, output_data={"label": "a"})
        baker.make(
            Evaluation, response=response, evaluator_type="label_match", score=1, passed=True
        )
        return run, case

    def test_deleting_a_run_deletes_its_responses_and_evaluations(self, graph):
        run, case = graph
        run.delete()
        assert not Response.objects.exists() and not Evaluation.objects.exists()
        assert TestCase.objects.filter(pk=case.pk).exists()

    def test_deleting_a_case_deletes_its_responses_and_evaluations(self, graph):
        run, case = graph
        case.delete()
        assert not Response.objects.exists() and not Evaluation.objects.exists()
        assert ModelRun.objects.filter(pk=run.pk).exists()
