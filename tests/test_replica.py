"""Scaling out: with DATABASE_REPLICA_URL set, every report computation reads from the replica.

A second connection to the test database stands in for the replica (as in test_production.py):
the reports' queries must all go through it and none through the primary.
"""

import os
import subprocess
import sys
from urllib.parse import quote

import pytest

SCRIPT = """
import django; django.setup()
from django.db import connections
from django.test.utils import CaptureQueriesContext
from cases.models import TestCase
from evaluations import reports
from evaluations.models import Evaluation
from runs.models import ModelRun, Response

case = TestCase.objects.create(input_data={"text": "x"}, input_type="text",
    ground_truth={"label": "a"}, output_type="classification", model_type="nlp")
runs = [ModelRun.objects.create(model_name="m", model_version=v, model_type="nlp",
    status="completed", total_cases=1) for v in ("1", "2")]
for run in runs:
    response = Response.objects.create(run=run, test_case=case, output_data={"label": "a"},
        latency_ms=5)
    Evaluation.objects.create(response=response, evaluator_type="label_match", score=1.0,
        passed=True, metrics={})
with CaptureQueriesContext(connections["replica"]) as replica, \\
     CaptureQueriesContext(connections["default"]) as default:
    reports.build_run_report(runs[0])
    reports.compare_runs(*runs)
    reports.comparison_cases(*runs, limit=10)
    reports.build_leaderboard()
    reports.case_history(case.pk)
    list(reports.failing_evaluations(runs[0]))
print(len(replica.captured_queries), len(default.captured_queries))
"""


@pytest.mark.django_db(transaction=True)  # the subprocess's rows are flushed afterwards
def test_report_computations_read_from_the_replica():
    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="") + (f":{db['PORT']}" if db["PORT"] else "")
    url = f"postgres://{db['USER']}@{host}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_REPLICA_URL": url,
           "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    replica_queries, default_queries = map(int, out.stdout.split()[-2:])
    assert replica_queries >= 6 and default_queries == 0
