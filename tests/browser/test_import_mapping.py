"""Mapping a table's own columns in Chromium: upload a hub-style CSV, Map columns, pick what each
column becomes and watch the htmx preview show the first rows as they will be stored (and a bad
JSON cell by its line), save the mapping, check the whole file with the real worker."""

import pytest
from playwright.sync_api import expect

from cases.models import ImportMapping, TestCase
from jobs.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "idx,sentence,label,meta\n"
    'a1,I love it,positive,"{""src"": ""hub""}"\n'
    "a2,Awful,negative,\n"
    "a3,Meh,neutral,{oops\n"
)


def test_map_columns_with_a_live_preview(login_page, make_user, run_worker, tmp_path):
    path = tmp_path / "hub.csv"
    path.write_text(CSV)
    page = login_page(make_user("curator", "carla"))
    page.goto(f"{page.base}/cases/import/")
    page.set_input_files("input[name=file]", str(path))
    page.click("#map-button")
    preview = page.locator("#mapping-preview")
    # loaded at once: nothing is mapped yet, so the mapping's problems
    expect(preview).to_contain_text("input_data: map at least one column to it (required)")

    row = page.locator("tr[data-column=sentence]")
    row.locator("select").select_option("input_data")
    row.locator("input[type=text]").fill("text")
    page.locator("tr[data-column=label] select").select_option("ground_truth")
    page.locator("tr[data-column=idx] select").select_option("external_id")
    page.fill("input[name=input_type]", "text")
    page.fill("input[name=output_type]", "classification")
    table = preview.locator("table.preview-rows")
    expect(table).to_contain_text('{"label": "positive"}')
    expect(table).to_contain_text('{"text": "I love it"}')
    expect(table.locator("tbody tr")).to_have_count(3)

    meta = page.locator("tr[data-column=meta]")
    meta.locator("select").select_option("metadata")
    meta.locator("input[type=checkbox]").check()
    errors = preview.locator("table.import-errors")
    expect(errors).to_contain_text("line 4")
    expect(errors).to_contain_text("metadata (column meta)")
    expect(table).to_contain_text('{"src": "hub"}')
    expect(table.locator("tbody tr")).to_have_count(2)

    page.fill("input[name=save_as]", "hub sentiment")
    run_worker()
    page.click("button:has-text('Check the whole file')")
    expect(page.locator("#import-status[data-status=succeeded]")).to_be_visible(timeout=60_000)
    expect(page.locator(".flash.error")).to_contain_text("1 error in 3 rows")
    assert ImportMapping.objects.get().mapping["input_data"] == {"text": "sentence"}
    assert not TestCase.objects.exists()
    Job.objects.get().file.delete()  # the worker's media root: a check keeps its upload
