"""The run pages in Chromium: register a run, execute it with the real worker, watch it finish."""

import pytest
from playwright.sync_api import expect

from runs.models import ModelRun
from tests.baker_recipes import make_case
from tests.runs.conftest import SENTIMENT


@pytest.fixture
def engineer_page(session_context, engineer):
    return session_context(engineer).new_page()


@pytest.mark.browser
@pytest.mark.worker
def test_register_execute_and_watch_a_run(live_server, engineer_page, run_worker):
    for i in range(12):
        make_case(input_data={"text": f"review {i}: great, love it"})
    page = engineer_page
    page.goto(f"{live_server.url}/runs/new/")
    page.fill("input[name=model_name]", "lexicon-sent")
    page.fill("input[name=model_version]", "3.0")
    page.fill("input[name=model_type]", "nlp")
    page.fill("input[name=model_endpoint]", SENTIMENT)
    page.locator("input[name=category]").fill("sentiment")
    expect(page.locator("#selection-count")).to_have_text("12 cases selected.")
    page.click("text=Register the run")
    expect(page.locator("h1")).to_contain_text("lexicon-sent 3.0")
    run = ModelRun.objects.get()
    assert page.url.endswith(f"/runs/{run.pk}/")
    expect(page.locator("#run-drift")).to_contain_text("unchanged")

    page.click("#run-actions button:has-text('Execute')")
    expect(page.locator(".flash.success")).to_contain_text("Execution queued")
    run_worker()
    # The progress block polls; when the run ends the page reloads with its tasks and counts.
    expect(page.locator("#run-progress .badge")).to_have_text("Completed", timeout=60_000)
    expect(page.locator("#run-progress")).to_contain_text("12 / 12")
    expect(page.locator("#run-tasks")).to_contain_text(
        "12 cases called: 12 succeeded, 0 failed; run completed"
    )
