"""The batching endpoint kinds against real servers: MLflow's scoring app serving a scikit-learn
model trained here, and a KServe ModelServer (v1 and v2 protocols) in its own process."""

import socket
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from cases.models import TestCase
from runs.batch_callers import (
    BatchCaller,
    KserveV1Caller,
    KserveV2Caller,
    MlflowCaller,
    shape_prediction,
    tensor_datatype,
)
from runs.callers import CALLERS, ExecutionError, ExecutionOptions
from runs.connections import Connection, probe_connection
from runs.endpoint_config import BATCHING_KINDS
from runs.execution import execute_run
from runs.models import ModelRun, Response
from runs.selection import register_run
from tests.baker_recipes import case as case_recipe
from tests.runs.conftest import execute_concurrently
from tests.runs.model_servers import KserveServer, Served, mlflow_scoring_app

FAST = ExecutionOptions(concurrency=4, timeout=10, retries=2, backoff=0.05)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with Served(mlflow_scoring_app(tmp_path_factory.mktemp("mlflow"))) as served:
        yield served


@pytest.fixture
def mlflow(mlflow_server):
    mlflow_server.calls.clear()
    mlflow_server.gets.clear()
    mlflow_server.refusals.clear()
    mlflow_server.delay = 0.0
    return mlflow_server


@pytest.fixture(scope="module")
def kserve():
    with KserveServer() as server:
        yield server


def tabular_cases(rows: list, key: str = "row", **fields) -> list[TestCase]:
    """Golden tabular cases, one per row, labelled by the rule the models learn (x1 + x2 > 0)."""
    cases = []
    for row in rows:
        values = list(row.values()) if isinstance(row, dict) else row
        numeric = all(isinstance(v, int | float) for v in values)
        label = str(int(sum(values) > 0)) if numeric else "0"
        cases.append(
            case_recipe.prepare(
                model_type="tabular",
                input_type="tabular",
                input_data={key: row},
                ground_truth={"label": label},
                **fields,
            )
        )
    return TestCase.objects.bulk_create(cases)


def grid(n: int) -> list[dict]:
    """Rows well away from the boundary x1 + x2 = 0 (sum ±2.5), so the model's label is sure."""
    rows = []
    for i in range(n):
        x1 = float(i % 7) - 3.0
        rows.append({"x1": x1, "x2": (2.5 if i % 2 else -2.5) - x1})
    return rows


def batch_run(endpoint: str, **config) -> ModelRun:
    return register_run(
        model_name="clf",
        model_version="1",
        model_type="tabular",
        model_endpoint=endpoint,
        config=config,
    )


def outputs(run) -> dict[int, Response]:
    return {r.test_case_id: r for r in Response.objects.filter(run=run)}


def expected_label(case: TestCase) -> str:
    row = case.input_data[next(iter(case.input_data))]
    values = list(row.values()) if isinstance(row, dict) else row
    return str(int(sum(values) > 0))


@pytest.mark.django_db(transaction=True)
class TestMlflow:
    def test_cases_go_in_batches_and_every_prediction_lands_on_its_case(
        self, mlflow, login, viewer
    ):
        cases = tabular_cases(grid(150))
        run = batch_run(f"mlflow:{mlflow.url}", features="row")
        assert run.cases_per_call == 64
        summary = execute_run(run, FAST)
        assert (summary.status, summary.completed_cases, summary.failed_cases) == (
            "completed",
            150,
            0,
        )
        assert sorted(mlflow.rows_per_call()) == [22, 64, 64]
        stored = outputs(run)
        assert {pk: r.output_data for pk, r in stored.items()} == {
            case.pk: {"label": expected_label(case)} for case in cases
        }
        # Each row's latency is its batch's share: one value per batch, shared by its rows.
        shares = Counter(r.latency_ms for r in stored.values())
        assert sorted(shares.values()) == [22, 64, 64] and all(s > 0 for s in shares)
        client = login(viewer)
        assert "batched, 64 cases per call" in client.get(f"/runs/{run.pk}/").content.decode()
        report = client.get(f"/runs/{run.pk}/report/")
        assert "Batched, 64 cases per call" in report.content.decode()
        assert (
            client.get(f"/runs/{run.pk}/report/?format=json").json()["run"]["cases_per_call"] == 64
        )

    def test_batch_size_from_the_config_and_the_whole_input_as_the_record(self, mlflow):
        cases = tabular_cases(grid(10))
        TestCase.objects.filter(pk__in=[c.pk for c in cases]).update(input_data={"x1": 2, "x2": 1})
        run = batch_run(f"mlflow:{mlflow.url}", batch_size=4)
        assert run.cases_per_call == 4
        assert execute_run(run, FAST).completed_cases == 10
        assert sorted(mlflow.rows_per_call()) == [2, 4, 4]
        assert {r.output_data["label"] for r in outputs(run).values()} == {"1"}

    def test_a_bad_row_fails_alone_with_the_servers_error(self, mlflow):
        rows = grid(20)
        rows[3] = {"x1": "not a number", "x2": 1.0}
        cases = tabular_cases(rows)
        run = batch_run(f"mlflow:{mlflow.url}", features="row", batch_size=8)
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (19, 1)
        bad = outputs(run)[cases[3].pk]
        assert bad.error_message.startswith("HTTP 400: ")
        assert "Failed to convert column x1" in bad.error_message
        assert all(r.output_data for pk, r in outputs(run).items() if pk != cases[3].pk)
        # 8 refused → halves 4 (refused) and 4 → 2 and 2 (refused) → 1 and 1 (refused); then 8, 4
        assert sorted(mlflow.rows_per_call()) == [1, 1, 2, 2, 4, 4, 4, 8, 8]

    def test_429_with_retry_after_is_waited_for_then_the_batch_goes_through(self, mlflow):
        tabular_cases(grid(8))
        mlflow.refuse_next(429, {"retry-after": "1"})
        run = batch_run(f"mlflow:{mlflow.url}", features="row", batch_size=8)
        started = time.monotonic()
        summary = execute_run(run, FAST)
        assert time.monotonic() - started >= 0.95  # Retry-After, not the 0.05 s backoff
        assert (summary.completed_cases, summary.failed_cases) == (8, 0)
        assert mlflow.rows_per_call() == [8, 8]

    def test_server_errors_retried_then_split_rows_fail_with_the_last_error(self, mlflow):
        tabular_cases(grid(4))
        mlflow.refuse_next(503, times=3 + 2 + 4)  # the batch's 3 attempts, then every piece once
        run = batch_run(f"mlflow:{mlflow.url}", features="row", batch_size=4)
        summary = execute_run(run, FAST)
        assert summary.failed_cases == 4
        assert sorted(mlflow.rows_per_call()) == [1, 1, 1, 1, 2, 2, 4, 4, 4]
        errors = {r.error_message for r in outputs(run).values()}
        assert errors == {'HTTP 503: {"error": "slow down"}'}

    def test_an_unreachable_server_fails_every_row_without_splitting(self, db):
        tabular_cases(grid(6))
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        run = batch_run(f"mlflow:http://127.0.0.1:{port}", features="row", batch_size=6)
        started = time.monotonic()
        summary = execute_run(run, ExecutionOptions(timeout=2, retries=1, backoff=0.05))
        assert summary.failed_cases == 6
        assert time.monotonic() - started < 5
        assert {r.error_message.split(":")[0] for r in outputs(run).values()} == {
            "connection failed"
        }

    def test_three_executors_share_a_run_in_batches_and_send_each_case_once(self, mlflow):
        tabular_cases(grid(120))
        mlflow.delay = 0.05
        run = batch_run(f"mlflow:{mlflow.url}", features="row", batch_size=8)
        summaries = execute_concurrently(run, FAST)
        assert sum(mlflow.rows_per_call()) == 120 and max(mlflow.rows_per_call()) == 8
        assert sum(s.called for s in summaries) == 120
        run.refresh_from_db()
        assert (run.status, run.completed_cases, run.failed_cases) == ("completed", 120, 0)

    def test_the_connections_are_opened_before_the_first_timed_call(self, mlflow):
        tabular_cases(grid(4))
        run = batch_run(f"mlflow:{mlflow.url}", features="row")
        execute_run(run, FAST)
        assert mlflow.gets.count("/ping") == FAST.concurrency

    def test_a_host_outside_the_allowed_list_is_refused_before_any_call(self, mlflow, settings):
        tabular_cases(grid(4))
        run = batch_run(f"mlflow:{mlflow.url}", features="row")
        settings.MLEVAL_ENDPOINT_ALLOWED_HOSTS = ["models.internal"]
        with pytest.raises(ExecutionError, match="MLEVAL_ENDPOINT_ALLOWED_HOSTS"):
            execute_run(run, FAST)
        assert mlflow.calls == [] and not Response.objects.filter(run=run).exists()

    def test_a_saved_connection_runs_in_its_batch_size_and_its_test_pings(self, mlflow):
        tabular_cases(grid(20))
        Connection.objects.create(
            name="sklearn-prod", kind="mlflow", base_url=mlflow.url, batch_size=8
        )
        run = batch_run("connection:sklearn-prod", features="row")
        assert run.model_endpoint == f"mlflow:{mlflow.url}" and run.cases_per_call == 8
        assert execute_run(run, FAST).completed_cases == 20
        assert sorted(mlflow.rows_per_call()) == [4, 8, 8]
        mlflow.gets.clear()
        result = probe_connection(Connection.objects.get(name="sklearn-prod"))
        assert (result.ok, result.status) == (True, 200) and "/ping" in mlflow.gets

    def test_cancel_mid_run_keeps_whole_batches_and_resume_sends_only_the_rest(self, mlflow):
        tabular_cases(grid(80))
        mlflow.delay = 0.2
        run = batch_run(f"mlflow:{mlflow.url}", features="row", batch_size=8)
        cancelled = {}

        def cancel_soon():
            while not Response.objects.filter(run=run).exists():
                time.sleep(0.02)
            ModelRun.objects.get(pk=run.pk).cancel()
            cancelled["at"] = time.monotonic()
            connection.close()

        canceller = threading.Thread(target=cancel_soon)
        canceller.start()
        summary = execute_run(run, ExecutionOptions(concurrency=1, timeout=10))
        returned = time.monotonic()
        canceller.join()
        assert summary.status == "cancelled"
        assert returned - cancelled["at"] < 2.0
        run.refresh_from_db()
        done = run.completed_cases
        assert 0 < done < 80 and done % 8 == 0 and run.failed_cases == 0
        sent_before = len(mlflow.calls)
        mlflow.delay = 0.0
        resumed = execute_run(run, FAST)
        assert (resumed.status, resumed.completed_cases) == ("completed", 80)
        assert sum(rows for _, rows in mlflow.calls[sent_before:]) == 80 - done
        assert Response.objects.filter(run=run).count() == 80


@pytest.mark.django_db(transaction=True)
class TestKserve:
    def test_v1_batches_instances_and_a_bad_row_fails_alone(self, kserve):
        rows = [[(i % 9) * 0.5, (i % 4) - 2.25] for i in range(40)]
        rows[17] = [-2.0, 9.0]  # refused by the model: a negative first feature
        cases = tabular_cases(rows, key="x")
        run = batch_run(f"kserve-v1:{kserve.url}/v1/models/adder", features="x", batch_size=16)
        before = kserve.predict_calls()
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (39, 1)
        stored = outputs(run)
        assert stored[cases[17].pk].error_message == (
            'HTTP 400: {"error":"row 0: negative first feature"}'
        )
        for case in cases:
            if case.pk != cases[17].pk:
                assert stored[case.pk].output_data == {"label": expected_label(case)}
        # 16, 16, 8; the refused 16 (cases 16-31) → 8 (refused) + 8 → 4 (refused) + 4 → 2
        # (refused) + 2 → 1 + 1 (refused): 3 + 2 + 2 + 2 + 2 calls reach the model's predict
        assert kserve.predict_calls() - before == 11

    @pytest.mark.parametrize("kind", ["kserve-v1", "kserve-v2"])
    def test_a_saved_connections_test_asks_the_model_status(self, kserve, kind):
        version = kind[-2:]
        connection = Connection.objects.create(
            name=kind, kind=kind, base_url=f"{kserve.url}/{version}/models/adder"
        )
        result = probe_connection(connection)
        assert (result.ok, result.status) == (True, 200) and "adder" in result.reply

    def test_v1_regression_cases_get_values(self, kserve):
        tabular_cases([[1.0, 2.0], [0.0, -1.0]], key="x", output_type="regression")
        run = batch_run(f"kserve-v1:{kserve.url}/v1/models/adder", features="x")
        execute_run(run, FAST)
        assert sorted(r.output_data["value"] for r in outputs(run).values()) == [0, 1]

    def test_v2_one_tensor_per_batch_typed_from_the_data(self, kserve):
        rows = [[i, -20] for i in range(40)]
        cases = tabular_cases(rows, key="x")
        run = batch_run(f"kserve-v2:{kserve.url}/v2/models/adder", features="x", batch_size=32)
        before = kserve.predict_calls()
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (40, 0)
        assert kserve.predict_calls() - before == 2
        assert {pk: r.output_data for pk, r in outputs(run).items()} == {
            case.pk: {"label": expected_label(case)} for case in cases
        }

    def test_v2_rows_that_are_not_numbers_fail_alone_and_widths_are_sent_apart(self, kserve):
        cases = tabular_cases([[1.5, 2.25], [0.1, -3.0, 4.0], ["a", 1], [-0.5, 0.25]], key="x")
        run = batch_run(f"kserve-v2:{kserve.url}/v2/models/adder", features="x")
        before = kserve.predict_calls()
        summary = execute_run(run, FAST)
        assert (summary.completed_cases, summary.failed_cases) == (2, 2)
        # width 2: [case 0, case 3] refused (case 3), then each alone; width 3: one call
        assert kserve.predict_calls() - before == 4
        stored = outputs(run)
        assert stored[cases[2].pk].error_message == (
            'the input\'s "x" must be a non-empty list of numbers for a tensor row'
        )
        assert "negative first feature" in stored[cases[3].pk].error_message
        assert stored[cases[0].pk].output_data == {"label": "1"}
        assert stored[cases[1].pk].output_data == {"label": "1"}

    def test_v2_class_probabilities_kept_as_scores(self, kserve):
        cases = tabular_cases([[2.0, 1.0], [0.5, -3.0]], key="proba")
        run = batch_run(
            f"kserve-v2:{kserve.url}/v2/models/adder", features="proba", prediction="scores"
        )
        execute_run(run, FAST)
        stored = outputs(run)
        high, low = stored[cases[0].pk].output_data, stored[cases[1].pk].output_data
        assert high["label"] == "1" and high["scores"]["1"] == pytest.approx(0.9525741268)
        assert low["label"] == "0" and low["scores"]["0"] == pytest.approx(0.9241418199)


def test_the_batching_kinds_are_the_registered_batch_callers():
    assert set(BATCHING_KINDS) == {
        prefix for prefix, cls in CALLERS.items() if issubclass(cls, BatchCaller)
    }
    assert (
        ModelRun(model_endpoint="http://h/predict", config={"batch_size": 8}).cases_per_call is None
    )


class TestShapes:
    @pytest.mark.parametrize(
        ("prediction", "mode", "output"),
        [
            (1, "label", {"label": "1"}),
            (1.0, "label", {"label": "1"}),
            (True, "label", {"label": "true"}),
            ("cat", "label", {"label": "cat"}),
            ([2], "label", {"label": "2"}),
            ({"predicted": "dog"}, "label", {"label": "dog"}),
            ([0.1, 0.7, 0.2], "label", {"label": "1"}),
            ({"cat": 0.3, "dog": 0.7}, "label", {"label": "dog"}),
            (2.5, "value", {"value": 2.5}),
            ([2.5], "value", {"value": 2.5}),
            ([0.25, 0.75], "scores", {"label": "1", "scores": {"0": 0.25, "1": 0.75}}),
            ({"a": 0.9, "b": 0.1}, "scores", {"label": "a", "scores": {"a": 0.9, "b": 0.1}}),
            ([1, 2], "raw", {"prediction": [1, 2]}),
            ({"any": "thing"}, "raw", {"any": "thing"}),
        ],
    )
    def test_predictions_become_output_data(self, prediction, mode, output):
        assert shape_prediction(prediction, mode) == output

    @pytest.mark.parametrize(
        ("prediction", "mode"),
        [("high", "value"), (True, "value"), (1, "scores"), ([1, "a"], "scores"), (None, "label")],
    )
    def test_predictions_that_do_not_fit_the_mode_are_refused(self, prediction, mode):
        with pytest.raises(ValueError, match=f"prediction is {mode}"):
            shape_prediction(prediction, mode)

    @pytest.mark.parametrize(
        ("values", "datatype"),
        [
            ([1, 2, -3], "INT64"),
            ([1, 2.5, 0.25], "FP32"),
            ([1, 0.1], "FP64"),
            ([0.5, 16777217.0], "FP64"),  # 2**24 + 1: not a float32
            ([1, 2**63], "FP32"),  # past INT64: a float, and 2**63 is exact in float32
            ([1e300, 1], "FP64"),
        ],
    )
    def test_tensor_datatype_is_chosen_from_the_data(self, values, datatype):
        assert tensor_datatype(values)[0] == datatype

    @pytest.mark.parametrize(
        ("cls", "endpoint", "url"),
        [
            (MlflowCaller, "mlflow:http://h:5000", "http://h:5000/invocations"),
            (MlflowCaller, "mlflow:https://h/x/invocations", "https://h/x/invocations"),
            (KserveV1Caller, "kserve-v1:http://h/v1/models/m", "http://h/v1/models/m:predict"),
            (
                KserveV1Caller,
                "kserve-v1:http://h/v1/models/m:predict",
                "http://h/v1/models/m:predict",
            ),
            (KserveV2Caller, "kserve-v2:http://h/v2/models/m", "http://h/v2/models/m/infer"),
            (
                KserveV2Caller,
                "kserve-v2:http://h/v2/models/m/versions/3",
                "http://h/v2/models/m/versions/3/infer",
            ),
        ],
    )
    def test_request_urls(self, cls, endpoint, url):
        assert cls.request_url(endpoint) == url

    @pytest.mark.parametrize(
        ("cls", "endpoint", "url"),
        [
            (MlflowCaller, "mlflow:http://h:5000/", "http://h:5000/ping"),
            (KserveV1Caller, "kserve-v1:http://h/v1/models/m", "http://h/v1/models/m"),
            (KserveV2Caller, "kserve-v2:http://h/v2/models/m", "http://h/v2/models/m/ready"),
        ],
    )
    def test_health_urls_warm_the_connections(self, cls, endpoint, url):
        assert cls.health_url(endpoint) == url

    @pytest.mark.parametrize(
        ("cls", "endpoint"),
        [
            (MlflowCaller, "mlflow:ftp://h"),
            (KserveV1Caller, "kserve-v1:http://h/v2/models/m"),
            (KserveV2Caller, "kserve-v2:http://h/models/m"),
        ],
    )
    def test_endpoints_of_the_wrong_shape_are_refused(self, cls, endpoint):
        with pytest.raises(ExecutionError, match="Write "):
            cls.request_url(endpoint)
