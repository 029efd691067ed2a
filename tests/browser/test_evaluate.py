"""Scoring from the run page in Chromium: the panel loads by htmx, an engineer ticks an
evaluator and presses Evaluate, a real worker scores, and the panel follows to the verdicts."""

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def page(chromium_path, live_server, run_worker, make_user):
    """A Chromium page logged in as an engineer through the real login form."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    make_user("engineer", "erin")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=ARGS
        )
        tab = browser.new_page()
        tab.set_default_timeout(20_000)
        tab.goto(f"{live_server.url}/accounts/login/")
        tab.fill("input[name=username]", "erin")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        expect(tab.locator(".topbar .user")).to_contain_text("erin")
        tab.base = live_server.url
        yield tab
        browser.close()


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
