"""XSS: a case (and a run) holding `<script>` in every text field is shown, never run.

Each page must contain the escaped text (so the value really is displayed) and never the raw
tag. A source check keeps `|safe`, `mark_safe` and `autoescape off` out of the code, so the
templates' escaping stays the only way values reach HTML.
"""

import re
from pathlib import Path

import pytest

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response, RunCase
from tests.security.conftest import XSS, XSS_ESCAPED

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hostile(db):
    """Script tags in the input, ground truth, tags, category and metadata of an ai-generated
    case awaiting review, and in a run's name, output, verdict feedback and config."""
    case = TestCase.objects.create(
        input_data={"text": XSS, XSS: "as a key"},
        input_type="text",
        ground_truth={"label": XSS},
        output_type="classification",
        model_type="nlp",
        category=XSS,
        tags=[XSS, "en"],
        metadata={"note": XSS},
        origin="ai-generated",
        is_verified=False,
    )
    runs = []
    for version in ("1", "2"):
        run = ModelRun.objects.create(
            model_name=XSS,
            model_version=version,
            model_type="nlp",
            status="completed",
            total_cases=1,
            config={"prompt": XSS, "selection": {"scope": "all"}},
        )
        RunCase.objects.create(run=run, test_case=case)
        response = Response.objects.create(
            run=run, test_case=case, output_data={"label": f"not {XSS}"}, error_message=""
        )
        Evaluation.objects.create(
            response=response,
            evaluator_type="label_match",
            score=0.0,
            passed=False,
            metrics={"expected": XSS},
            feedback=f"expected {XSS}",
        )
        runs.append(run)
    return {"case": case, "runs": runs}


def pages(hostile) -> list[str]:
    case, (run_a, run_b) = hostile["case"], hostile["runs"]
    return [
        "/cases/?scope=all",
        f"/cases/?scope=all&tags={XSS}",
        f"/cases/{case.pk}/",
        f"/cases/{case.pk}/edit/",
        f"/cases/{case.pk}/delete/",
        "/cases/review/",
        f"/reports/cases/{case.pk}/history/",
        "/runs/",
        f"/runs/{run_a.pk}/",
        f"/runs/{run_a.pk}/report/",
        f"/runs/{run_a.pk}/report/?evaluator=label_match&tag={XSS}",
        f"/runs/compare/?a={run_a.pk}&b={run_b.pk}",
        "/leaderboard/",
        "/",
        "/admin/cases/testcase/",
        f"/admin/cases/testcase/{case.pk}/change/",
        "/admin/runs/modelrun/",
        f"/admin/runs/modelrun/{run_a.pk}/change/",
        "/admin/evaluations/evaluation/",
    ]


@pytest.mark.django_db
def test_script_tags_are_shown_escaped_on_every_page(hostile, admin_user, login):
    client = login(admin_user)
    wrong = []
    for path in pages(hostile):
        response = client.get(path)
        body = response.content.decode()
        if response.status_code != 200 or XSS in body or XSS_ESCAPED not in body:
            wrong.append((path, response.status_code, XSS in body, XSS_ESCAPED in body))
    assert not wrong, "(path, status, raw tag present, escaped text present): " + repr(wrong)


@pytest.mark.django_db
def test_htmx_partials_escape_too(hostile, admin_user, login):
    client = login(admin_user)
    run = hostile["runs"][0]
    for path in (
        "/cases/?scope=all",
        f"/runs/{run.pk}/report/?evaluator=label_match",
        f"/runs/{run.pk}/evaluation-progress/",
    ):
        body = client.get(path, headers={"HX-Request": "true"}).content.decode()
        assert XSS not in body, path


@pytest.mark.django_db
def test_json_exports_and_the_api_are_json_not_html(hostile, admin_user, login):
    client = login(admin_user)
    run = hostile["runs"][0]
    for path in (f"/runs/{run.pk}/report/?format=json", f"/api/v1/cases/{hostile['case'].pk}/"):
        response = client.get(path)
        assert response["Content-Type"].startswith("application/json"), path
        assert response["X-Content-Type-Options"] == "nosniff"


# Every folder of ours that holds templates or builds HTML (a new app is added here).
APP_FOLDERS = (
    "accounts",
    "cases",
    "runs",
    "evaluations",
    "grading",
    "versions",
    "jobs",
    "system",
    "mleval_site",
    "templates",
)
UNSAFE = re.compile(r"\|\s*safe\b|mark_safe\(|SafeString\(|autoescape\s+off|\|\s*safeseq\b")


def test_no_template_or_python_code_turns_escaping_off():
    """format_html (which escapes its arguments) is the only sanctioned way to build HTML."""
    sources = [
        path
        for folder in APP_FOLDERS
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".html") and "migrations" not in path.parts
    ]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNSAFE.search(line)
    ]
    assert len(sources) > 50
    assert not offenders, offenders


def plain_responses(hostile) -> list[str]:
    """Every endpoint that answers with a plain HttpResponse built from the request (not a
    template): the selection count, the reports' 400s, an unknown export format, versions."""
    run_a, run_b = hostile["runs"]
    return [
        f"/runs/new/count/?model_type=nlp&difficulty={XSS}",
        f"/runs/new/count/?model_type=nlp&json={XSS}",
        f"/runs/new/count/?model_type=nlp&is_verified={XSS}",
        f"/runs/{run_a.pk}/report/?evaluator={XSS}&min_score={XSS}",
        f"/runs/{run_a.pk}/report/?format={XSS}",
        f"/runs/compare/?a={run_a.pk}&b={XSS}",
        f"/runs/compare/?a={run_a.pk}&b={run_b.pk}&tag={XSS}&difficulty={XSS}",
        f"/leaderboard/?format={XSS}",
        f"/versions/diff/?a={XSS}&b=1",
    ]


@pytest.mark.django_db
def test_plain_responses_never_echo_markup(hostile, admin_user, login):
    """A plain answer is either text/plain or escaped HTML: htmx swaps the selection count into
    the page, so text/plain alone would not do there."""
    client = login(admin_user)
    wrong = []
    for path in plain_responses(hostile):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            body = response.content.decode()
            plain = response["Content-Type"].startswith("text/plain")
            if response.status_code >= 500 or (XSS in body and not plain):
                wrong.append((path, response.status_code, response["Content-Type"]))
    assert not wrong, wrong


@pytest.mark.django_db
def test_the_selection_count_escapes_the_value_it_echoes(admin_user, login):
    body = login(admin_user).get(f"/runs/new/count/?model_type=nlp&tags={XSS},a").content
    assert XSS.encode() not in body
