"""The admin's case list at 1,280 px beside its menu and filters: every column in view (none
cut off behind the results' own scroll bar), the input as a readable summary."""

import os

import pytest
from django.core.management import call_command

from cases.models import TestCase
from cases.previews import summary

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("domain", [None, "computer_vision", "time_series", "llm"])
def test_the_case_list_fits_1280_px(session_context, live_server, admin_user, domain):
    call_command("seed_user_data", stdout=open(os.devnull, "w"))
    page = session_context(admin_user).new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    query = f"?model_type={domain}" if domain else ""
    page.goto(f"{live_server.url}/admin/cases/testcase/{query}")
    widths = page.evaluate(
        """() => {
            const results = document.querySelector(".results");
            const cells = Array.from(document.querySelectorAll("#result_list td, #result_list th"));
            return {page: document.scrollingElement.scrollWidth, table: results.scrollWidth,
                    box: results.clientWidth,
                    cut: cells.filter(c => c.scrollWidth > c.clientWidth + 1).length};
        }"""
    )
    assert widths["page"] <= 1280 and widths["table"] <= widths["box"], widths
    assert widths["cut"] == 0, widths
    first = page.locator("#result_list tbody tr").first
    case = TestCase.objects.get(pk=int(first.locator("th.field-id, td.field-id").inner_text()))
    assert first.locator("td.field-input_summary").inner_text() == summary(case.input_data)
