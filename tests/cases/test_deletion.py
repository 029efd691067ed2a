"""The one cascade walker (mleval_site.db) behind every delete of cases and runs, and the admin's
curation actions going through curation.apply like the pages'."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from model_bakery import baker

from accounts.models import AuditEvent
from cases.models import TestCase
from evaluations.models import Evaluation
from mleval_site.db import cascade_counts, delete_cascading
from runs.models import ModelRun, Response, RunCase
from runs.selection import register_run

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def graph(make_case):
    """Two runs over three cases: run A answered all three (two verdicts), run B one case."""
    cases = [make_case() for _ in range(3)]
    run_a = register_run(model_name="a", model_version="1", model_type="nlp")
    run_b = register_run(model_name="b", model_version="1", model_type="nlp")
    responses = [Response.objects.create(run=run_a, test_case=c, output_data={}) for c in cases]
    Response.objects.create(run=run_b, test_case=cases[0], output_data={})
    for response in responses[:2]:
        baker.make(Evaluation, response=response, evaluator_type="exact", score=1, passed=True)
    return cases, run_a, run_b


@pytest.mark.django_db
class TestWalker:
    def test_counts_what_goes_along_parents_first(self, graph):
        cases, run_a, _ = graph
        counts = cascade_counts(TestCase.objects.filter(pk=cases[0].pk))
        assert counts == [
            ("case flags", 0),
            ("responses", 2),
            ("evaluations", 1),
            ("grading items", 0),
            ("assignments", 0),
        ]
        run_counts = dict(cascade_counts(ModelRun.objects.filter(pk=run_a.pk)))
        assert run_counts["responses"] == 3 and run_counts["evaluations"] == 2
        assert run_counts["run cases"] == 3  # the run's frozen selection (register_run)
        skipped = cascade_counts(ModelRun.objects.filter(pk=run_a.pk), skip=(RunCase,))
        assert "run cases" not in dict(skipped)

    def test_deletes_deepest_first_and_leaves_the_rest(self, graph):
        cases, run_a, run_b = graph
        with CaptureQueriesContext(connection) as queries:
            deleted = delete_cascading(ModelRun.objects.filter(pk=run_a.pk))
        assert list(deleted)[-1] is ModelRun and deleted[ModelRun] == 1
        assert deleted[Evaluation] == 2 and deleted[Response] == 3 and deleted[RunCase] == 3
        statements = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
        assert all(" IN (SELECT " in sql for sql in statements)  # set-based, no row fetched
        assert not any(q["sql"].startswith('SELECT "responses"') for q in queries)
        assert list(ModelRun.objects.values_list("pk", flat=True)) == [run_b.pk]
        assert Response.objects.count() == 1 and TestCase.objects.count() == 3
        assert RunCase.objects.filter(run=run_b).count() == 3

    def test_a_case_and_a_run_delete_through_it(self, graph):
        cases, run_a, run_b = graph
        total, counts = cases[0].delete()
        assert counts == {"cases.TestCase": 1, "runs.Response": 2, "evaluations.Evaluation": 1}
        assert total == 4
        assert not Response.objects.filter(run=run_b).exists()
        total, counts = run_a.delete()
        assert counts["runs.Response"] == 2 and counts["evaluations.Evaluation"] == 1
        assert not Evaluation.objects.exists()


@pytest.mark.django_db
class TestAdmin:
    def test_delete_confirmation_counts_instead_of_listing(self, graph, admin_user, login):
        _, run_a, _ = graph
        client = login(admin_user)
        page = client.get(reverse("admin:runs_modelrun_delete", args=[run_a.pk]))
        assert page.status_code == 200
        assert dict(page.context["model_count"]) == {
            "model runs": 1,
            "responses": 3,
            "evaluations": 2,
            "run cases": 3,
        }
        assert "Response: " not in page.content.decode()  # no row listed one by one
        client.post(reverse("admin:runs_modelrun_delete", args=[run_a.pk]), {"post": "yes"})
        assert not ModelRun.objects.filter(pk=run_a.pk).exists()
        assert Response.objects.count() == 1

    def test_delete_selected_cases_counts_and_deletes(self, graph, admin_user, login):
        cases, _, _ = graph
        client = login(admin_user)
        data = {"action": "delete_selected", "_selected_action": [c.pk for c in cases[:2]]}
        page = client.post(reverse("admin:cases_testcase_changelist"), data)
        assert dict(page.context["model_count"])["responses"] == 3
        client.post(reverse("admin:cases_testcase_changelist"), {**data, "post": "yes"})
        assert TestCase.objects.count() == 1 and Response.objects.count() == 1

    def test_verify_goes_through_curation(self, make_case, admin_user, login):
        unverified = make_case(is_verified=False)
        verified = make_case()
        TestCase.objects.update(updated_at=LONG_AGO)  # Now() is the transaction's start
        login(admin_user).post(
            reverse("admin:cases_testcase_changelist"),
            {"action": "mark_verified", "_selected_action": [unverified.pk, verified.pk]},
        )
        event = AuditEvent.objects.get(action="cases.verify")
        assert event.count == 1 and event.detail["via"] == "admin"  # only the case that changed
        unverified.refresh_from_db()
        verified.refresh_from_db()
        assert unverified.is_verified and unverified.updated_at > LONG_AGO
        assert verified.updated_at == LONG_AGO  # untouched, as on the pages
