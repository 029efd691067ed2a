"""The report page in Chromium: charts drawn, failing cases filtered and paged by htmx."""

import pytest
from playwright.sync_api import expect

from cases.models import TestCase
from evaluations.evaluators import run_evaluator, validate_params
from evaluations.models import Evaluation
from runs.models import ModelRun, Response


@pytest.fixture
def browser_page(session_context, viewer):
    """A Chromium page logged in as the viewer (the session cookie of a test client)."""
    return session_context(viewer).new_page()


@pytest.fixture
def scored_run(transactional_db):
    run = ModelRun.objects.create(
        model_name="clf", model_version="1.0", model_type="nlp", status="completed"
    )
    params = validate_params("label_match", {})
    for i in range(60):
        truth = "ab"[i % 2]
        case = TestCase.objects.create(
            input_data={"text": str(i)},
            input_type="text",
            ground_truth={"label": truth},
            output_type="classification",
            category=f"c{i % 3}",
        )
        predicted = truth if i % 3 == 0 else "ab"[(i + 1) % 2]
        response = Response.objects.create(
            run=run, test_case=case, output_data={"label": predicted}, latency_ms=i
        )
        verdict = run_evaluator("label_match", response.output_data, case.ground_truth, params)
        Evaluation.objects.create(
            response=response,
            evaluator_type="label_match",
            score=verdict.score,
            passed=verdict.passed,
            metrics=verdict.metrics,
            feedback=verdict.feedback,
        )
    return run


@pytest.mark.browser
def test_report_filters_and_pages_failing_cases(browser_page, live_server, scored_run):
    page = browser_page
    page.goto(f"{live_server.url}/runs/{scored_run.pk}/report/")
    expect(page.locator("h1")).to_contain_text("clf 1.0")
    expect(page.locator("svg.heatmap")).to_be_visible()
    failing = page.locator("#failing")
    expect(failing).to_contain_text("40 failing verdicts")
    expect(failing.locator("tbody tr")).to_have_count(25)

    first_page = failing.locator("tbody tr td:first-child").all_inner_texts()
    failing.get_by_text("Next ›").click()  # keyset-paged: the next 15, none seen before
    expect(failing.locator("tbody tr")).to_have_count(15)
    second_page = failing.locator("tbody tr td:first-child").all_inner_texts()
    assert len(set(first_page + second_page)) == 40
    expect(failing.get_by_text("Next ›")).to_have_count(0)  # the last page
    expect(page.locator("h1")).to_have_count(1)  # a fragment swapped in, not a page

    page.fill("input[name=category]", "c1")
    page.locator("input[name=category]").dispatch_event("change")
    expect(failing).to_contain_text("20 failing verdicts matching the filter")
    assert "category=c1" in page.url  # the filter is in the address, so a reload keeps it


@pytest.mark.browser
def test_case_page_loads_the_history(browser_page, live_server, scored_run):
    case = scored_run.responses.order_by("id").first().test_case
    page = browser_page
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    history = page.locator("#case-history")
    expect(history).to_contain_text("clf")
    expect(history.locator("tbody tr")).to_have_count(1)
