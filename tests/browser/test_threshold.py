"""The threshold explorer in Chromium: the slider's htmx request swaps in the counts at the
new threshold; the probability charts are drawn."""

import pytest
from playwright.sync_api import expect

from cases.models import TestCase
from evaluations.pipeline import evaluate_run
from runs.models import ModelRun, Response


@pytest.fixture
def scored_run(transactional_db):
    run = ModelRun.objects.create(
        model_name="filter",
        model_version="1.0",
        model_type="nlp",
        status="completed",
        config={"positive_label": "spam"},
    )
    for i in range(40):
        truth = "spam" if i % 2 else "ham"
        p = round((i % 10) / 10 + (0.05 if truth == "spam" else 0.0), 2)
        case = TestCase.objects.create(
            input_data={"text": str(i)},
            input_type="text",
            ground_truth={"label": truth},
            output_type="classification",
        )
        Response.objects.create(
            run=run,
            test_case=case,
            output_data={
                "label": "spam" if p >= 0.5 else "ham",
                "scores": {"spam": p, "ham": 1 - p},
            },
        )
    evaluate_run(run)
    return run


@pytest.mark.browser
def test_slider_updates_the_counts(session_context, viewer, live_server, scored_run):
    page = session_context(viewer).new_page()
    page.goto(f"{live_server.url}/runs/{scored_run.pk}/report/")
    expect(page.locator('svg[aria-label^="ROC curve"]')).to_be_visible()
    expect(page.locator('svg[aria-label="Reliability diagram"] circle')).not_to_have_count(0)
    figures = page.locator("#threshold-figures")
    expect(figures).to_contain_text("≥ 0.5")
    slider = page.locator('#scores input[name="t"]')
    slider.fill("0.9")  # fires input: htmx asks /runs/<id>/threshold/?t=0.9
    expect(figures).to_contain_text("≥ 0.9")
    # p >= 0.9: the four spam cases at 0.95; no ham case is that high.
    expect(figures.locator("td").nth(0)).to_have_text("4")  # TP
    expect(figures.locator("td").nth(1)).to_have_text("0")  # FP
    expect(page.locator("h1")).to_have_count(1)  # a fragment swapped in, not a page
