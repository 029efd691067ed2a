"""The curation pages in Chromium: log in, create a case (invalid JSON first), find it with a
filter, bulk-verify two cases, approve one in the review queue, import a file with an error."""

import json
import re

import pytest
from playwright.sync_api import expect

from cases.models import TestCase
from jobs.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(login_page, make_user):
    """A Chromium page logged in as a curator through the real login form."""
    return login_page(make_user("curator", "carla"))


def make(**fields) -> TestCase:
    defaults = {
        "input_data": {"text": "A plain review"},
        "input_type": "text",
        "ground_truth": {"label": "neutral"},
        "output_type": "classification",
        "model_type": "nlp",
    }
    return TestCase.objects.create(**{**defaults, **fields})


def test_create_a_case_with_invalid_then_valid_json_and_find_it(page):
    page.goto(f"{page.base}/cases/new/")
    page.fill("[name=model_type]", "nlp")
    page.fill("[name=input_type]", "text")
    page.fill("[name=output_type]", "classification")
    page.fill("[name=input_data]", '{"text": "zebra crossing review", "lang": "en",}')
    expect(page.locator("#hint-input_data")).to_contain_text("Invalid JSON at line 1")
    page.fill("[name=ground_truth]", '{"label": "positive"}')
    page.fill("[name=tags]", "en, browser")
    page.click("button:has-text('Save')")
    expect(page.locator(".field-error")).to_contain_text("Invalid JSON at line 1, column")
    assert not TestCase.objects.exists()

    page.fill("[name=input_data]", '{"text": "zebra crossing review", "lang": "en"}')
    expect(page.locator("#hint-input_data")).to_contain_text("valid JSON")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Case")
    case = TestCase.objects.get()
    assert case.tags == ["en", "browser"] and case.created_by.username == "carla"

    make(input_data={"text": "unrelated"})
    page.goto(f"{page.base}/cases/")
    expect(page.locator("table.cases tbody tr")).to_have_count(2)
    page.fill("[name=q]", "zebra")
    page.press("[name=q]", "Enter")  # htmx swaps the table in place
    expect(page.locator("table.cases tbody tr")).to_have_count(1)
    expect(page.locator("table.cases tbody")).to_contain_text("zebra crossing review")
    assert "q=zebra" in page.url


def test_bulk_verify_two_cases(page):
    a = make(is_verified=False, input_data={"text": "first unverified"})
    b = make(is_verified=False, input_data={"text": "second unverified"})
    c = make(is_verified=False, input_data={"text": "left alone"})
    page.goto(f"{page.base}/cases/?scope=all&is_verified=false")
    expect(page.locator(".scope-notice")).to_contain_text("Widened")
    page.check(f"input[name=ids][value='{a.pk}']")
    page.check(f"input[name=ids][value='{b.pk}']")
    page.select_option("select[name=action]", "verify")
    page.click("button:has-text('Apply to selected')")
    expect(page.locator(".bulk-summary")).to_contain_text("2 selected cases")
    page.click("button:has-text('Verify 2 cases')")
    expect(page.locator(".flash.success")).to_contain_text("Verified: 2 cases.")
    verified = set(TestCase.objects.filter(is_verified=True).values_list("pk", flat=True))
    assert verified == {a.pk, b.pk} and c.pk not in verified


def test_approve_one_in_the_review_queue(page):
    first = make(origin="ai-generated", is_verified=False, input_data={"text": "ai one"})
    second = make(origin="ai-generated", is_verified=False, input_data={"text": "ai two"})
    page.goto(f"{page.base}/cases/review/")
    expect(page.locator("table.cases tbody tr")).to_have_count(2)
    page.locator(f"button[form=row-approve][value='{first.pk}']").click()
    expect(page.locator("table.cases tbody tr")).to_have_count(1)
    expect(page.locator("table.cases tbody")).to_contain_text("ai two")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_verified and first.origin == "ai-generated" and not second.is_verified


def test_import_a_file_with_an_error_shows_the_line(page, run_worker, tmp_path):
    case = {"input_data": {"text": "ok"}, "input_type": "text", "output_type": "classification"}
    good = json.dumps({**case, "ground_truth": {"label": "a"}})
    bad = json.dumps(case)  # no ground_truth
    path = tmp_path / "golden.jsonl"
    path.write_text(f"{good}\n{good}\n{bad}\n{good}\n")
    run_worker()
    page.goto(f"{page.base}/cases/import/")
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('Check (dry run)')")
    status = page.locator("#import-status[data-status=succeeded]")
    expect(status).to_be_visible(timeout=60_000)  # htmx polls until the worker is done
    expect(page.locator("table.import-errors")).to_contain_text("line 3")
    expect(page.locator("table.import-errors")).to_contain_text("ground_truth")
    expect(page.locator(".flash.error")).to_contain_text(re.compile(r"1 error in 4 rows"))
    job = Job.objects.get()
    assert not TestCase.objects.exists() and job.result["error_count"] == 1
    job.file.delete()  # a dry run keeps its upload for the real import; not needed here
