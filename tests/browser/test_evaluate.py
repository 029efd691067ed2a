"""Scoring from the run page in Chromium: the panel loads by htmx, an engineer ticks an
evaluator and presses Evaluate, a real worker scores, and the panel follows to the verdicts."""

import pytest
from playwright.sync_api import expect

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def page(login_page, run_worker, make_user):
    """A Chromium page logged in as an engineer through the real login form."""
    return login_page(make_user("engineer", "erin"), timeout_ms=20_000)


def test_evaluate_a_run_from_its_page(page, run_worker):
    run = ModelRun.objects.create(model_name="lexicon", model_version="1", model_type="nlp")
    for i, (truth, answer) in enumerate([("pos", "pos"), ("neg", "pos"), ("pos", "pos")]):
        case = TestCase.objects.create(
            input_data={"text": f"review {i}"},
            input_type="text",
            ground_truth={"label": truth},
            output_type="classification",
        )
        Response.objects.create(run=run, test_case=case, output_data={"label": answer})

    page.goto(f"{page.base}/runs/{run.pk}/")
    panel = page.locator("#evaluation-panel")
    expect(panel).to_contain_text("No verdicts yet")
    panel.get_by_label("exact_match").check()
    panel.locator("textarea[name=params]").fill('{"bleu": {}}')
    panel.get_by_role("button", name="Evaluate").click()
    expect(panel).to_contain_text("bleu, which is not ticked")  # nothing queued

    panel.locator("textarea[name=params]").fill("")
    panel.get_by_role("button", name="Evaluate").click()
    expect(panel).to_contain_text("Waiting for a worker")
    finished = run_worker(batch=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The panel polls every 2 s and shows the verdicts once the job is done.
    expect(panel.locator("table.verdicts")).to_contain_text("exact_match")
    expect(panel.locator("table.verdicts")).to_contain_text("67%")
    assert Evaluation.objects.filter(response__run=run, evaluator_type="exact_match").count() == 3
