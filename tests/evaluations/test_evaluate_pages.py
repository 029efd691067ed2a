"""/evaluators/, a run's Evaluate form and its evaluation panel, per persona."""

import sys

import pytest
from django_tasks_db.models import DBTaskResult
from model_bakery import baker

from cases.models import TestCase
from evaluations.evaluators import REGISTRY
from evaluations.evaluators.docs import example_verdict
from evaluations.pipeline import evaluate_run
from jobs.models import Job
from runs.models import ModelRun, Response

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# The panel's queries: request (session, user, permissions), run, the content type when its
# cache is cold, job, the run's summary (not current yet: the verdicts are then counted),
# curation errors; grading's trust marks beside the pass rates (a fingerprint of the graded
# runs, then the figures when not cached).
PANEL_MAX_QUERIES = 13


@pytest.fixture
def run() -> ModelRun:
    """A scored run of 30 responses; two cases have a malformed ground truth."""
    run = baker.make(ModelRun, model_type="nlp", model_name="lexicon", model_version="2")
    for i in range(30):
        truth = {"labels": ["x"]} if i in (3, 7) else {"label": "pos" if i % 2 else "neg"}
        case = baker.make(
            TestCase,
            input_data={"text": f"review {i}"},
            output_type="classification",
            ground_truth=truth,
        )
        baker.make(Response, run=run, test_case=case, output_data={"label": "pos"})
    evaluate_run(run)
    return run


def panel_url(run: ModelRun) -> str:
    return f"/runs/{run.pk}/evaluation-progress/"


def evaluate_url(run: ModelRun) -> str:
    return f"/runs/{run.pk}/evaluate/"


@pytest.mark.parametrize("persona", ["viewer", "curator", "engineer", "admin_user"])
def test_evaluators_page_documents_every_evaluator_for_every_role(
    request, login, persona, django_assert_max_num_queries
):
    client = login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(6):
        response = client.get("/evaluators/")
    assert response.status_code == 200
    page = response.content.decode()
    for name, evaluator in REGISTRY.items():
        assert f'id="{name}"' in page
        verdict = example_verdict(evaluator)
        assert f"score {verdict.score:.3f}" in page
    assert "iou_threshold" in page and "default for bounding_boxes" in page


def test_evaluators_page_refuses_outsiders_and_anonymous(client, login, outsider):
    assert login(outsider).get("/evaluators/").status_code == 403
    assert client.get("/evaluators/").status_code == 302


@pytest.mark.parametrize("persona", ["viewer", "curator"])
def test_panel_shows_verdicts_and_curation_errors_without_the_form(
    request, login, run, persona, django_assert_max_num_queries
):
    client = login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(PANEL_MAX_QUERIES):
        response = client.get(panel_url(run), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>label_match</code>" in page and '<td class="n">30</td>' in page
    assert "2 verdicts blame the ground truth" in page
    cases = Response.objects.filter(run=run).order_by("id").values_list("test_case_id", flat=True)
    for i in (3, 7):
        assert f'href="/cases/{cases[i]}/"' in page
    assert "<form" not in page and "hx-trigger" not in page


def test_panel_offers_the_form_to_engineers(login, engineer, run, django_assert_max_num_queries):
    client = login(engineer)
    with django_assert_max_num_queries(PANEL_MAX_QUERIES):
        page = client.get(panel_url(run), **HTMX).content.decode()
    assert f'hx-post="/runs/{run.pk}/evaluate/"' in page
    assert "Evaluate again" in page and 'value="rouge_l"' in page


def test_panel_refuses_outsiders(login, outsider, run):
    assert login(outsider).get(panel_url(run)).status_code == 403


def test_panel_polls_while_a_job_runs_and_hides_the_form(login, engineer, run):
    Job.objects.create(
        kind="evaluation",
        target=run,
        state="running",
        params={"evaluators": [{"name": "label_match", "params": {}, "output_types": None}]},
        parts_total=4,
        parts_done=1,
        total=30,
        done=9,
    )
    page = login(engineer).get(panel_url(run), **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in page and "9 of 30 responses scored" in page
    assert "<form" not in page


@pytest.mark.parametrize("persona", ["viewer", "curator", "outsider"])
def test_evaluating_needs_the_engineer_role(request, login, run, persona):
    client = login(request.getfixturevalue(persona))
    assert client.get(evaluate_url(run)).status_code == 403
    assert client.post(evaluate_url(run), {"evaluators": ["bleu"]}).status_code == 403
    assert not Job.objects.exists() and not DBTaskResult.objects.exists()


def test_engineer_queues_an_evaluation_with_htmx_and_sees_it_progress(login, engineer, run):
    response = login(engineer).post(
        evaluate_url(run),
        {
            "evaluators": ["label_match", "exact_match"],
            "params": '{"label_match": {"ignore_case": true}}',
        },
        **HTMX,
    )
    assert response.status_code == 200
    job = Job.objects.get()
    assert [e["name"] for e in job.params["evaluators"]] == ["label_match", "exact_match"]
    assert job.params["evaluators"][0]["params"] == {
        "ignore_case": True,
        "positive_label": None,
        "decision_threshold": None,
    }
    assert job.created_by == engineer and job.state == "queued"
    assert DBTaskResult.objects.filter(id=job.task_id).exists()
    page = response.content.decode()
    assert 'hx-trigger="every 2s"' in page and "Waiting for a worker" in page


def test_engineer_without_htmx_is_redirected_to_the_progress_page(
    login, engineer, run, django_assert_max_num_queries
):
    client = login(engineer)
    response = client.post(evaluate_url(run), {})
    assert response.status_code == 302 and response.url == evaluate_url(run)
    job = Job.objects.get()
    assert job.params["evaluators"] == [
        {
            "name": "label_match",
            "params": {"ignore_case": False, "positive_label": None, "decision_threshold": None},
            "output_types": ["classification"],
        }
    ]
    with django_assert_max_num_queries(PANEL_MAX_QUERIES):
        page = client.get(evaluate_url(run)).content.decode()
    assert f"Evaluation job {job.pk} queued." in page and "Waiting for a worker" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"evaluators": ["iou"], "params": '{"iou": {"iou_threshold": 2}}'}, "must be &lt;= 1"),
        ({"evaluators": ["iou"], "params": '{"iou": '}, "Not valid JSON"),
        ({"evaluators": ["iou"], "params": '{"bleu": {}}'}, "bleu, which is not ticked"),
        ({"evaluators": ["iou"], "params": "[1]"}, "Write an object of objects"),
        ({"evaluators": ["nope"]}, "Select a valid choice"),
    ],
)
def test_bad_evaluators_are_shown_on_the_form_and_nothing_is_queued(
    login, engineer, run, data, message
):
    response = login(engineer).post(evaluate_url(run), data, **HTMX)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Job.objects.exists() and not DBTaskResult.objects.exists()


def test_fuzzy_ratio_without_its_extra_is_refused_on_the_form_saying_how_to_install_it(
    login, engineer, run, monkeypatch
):
    """rapidfuzz is the fuzzy extra (not in `make run`'s install): where it is missing,
    choosing fuzzy_ratio is a form error naming the pip command, and nothing is queued."""
    from evaluations.evaluators import text

    for module in ("rapidfuzz", "rapidfuzz.distance"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` raises ImportError
    text._levenshtein.cache_clear()
    response = login(engineer).post(evaluate_url(run), {"evaluators": ["fuzzy_ratio"]}, **HTMX)
    page = response.content.decode()
    assert "fuzzy_ratio needs rapidfuzz, which this install lacks" in page
    assert "pip install &#x27;mleval[fuzzy]&#x27;" in page
    assert not Job.objects.exists() and not DBTaskResult.objects.exists()
    monkeypatch.undo()
    text._levenshtein.cache_clear()  # installed again: the next test scores with it


def test_a_run_without_responses_cannot_be_evaluated_by_default(login, engineer):
    empty = baker.make(ModelRun, model_type="nlp")
    response = login(engineer).post(evaluate_url(empty), {}, **HTMX)
    assert "no responses to evaluate yet" in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize("persona", ["viewer", "engineer"])
def test_the_run_page_loads_the_evaluation_panel(request, login, run, persona):
    page = login(request.getfixturevalue(persona)).get(f"/runs/{run.pk}/").content.decode()
    assert f'hx-get="/runs/{run.pk}/evaluation-progress/"' in page
    assert 'hx-trigger="load"' in page


def test_admin_lists_evaluation_jobs_read_only(
    login, admin_user, run, django_assert_max_num_queries
):
    job = Job.objects.create(
        kind="evaluation", target=run, state="succeeded", parts_total=1, parts_done=1
    )
    Job.objects.create(kind="execution", target=run)
    client = login(admin_user)
    with django_assert_max_num_queries(12):
        page = client.get("/admin/jobs/job/")
    assert page.status_code == 200 and f"/admin/runs/modelrun/{run.pk}/change/" in page.text
    assert client.get(f"/admin/jobs/job/{job.pk}/change/").status_code == 200
    assert client.get("/admin/jobs/job/add/").status_code == 403
