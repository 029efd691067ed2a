"""Every main page fits a 1,280 px window (no horizontal scroll bar) on seeded data, and the
app menu (with Tokens, and Audit for admins) is on every page, the API docs included."""

import os

import pytest
from django.core.management import call_command

from cases.models import TestCase
from runs.models import ModelRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 1280


@pytest.fixture
def seeded(transactional_db):
    call_command("seed_user_data", stdout=open(os.devnull, "w"))


def main_pages() -> list[str]:
    case = TestCase.objects.order_by("id").first()
    runs = list(ModelRun.objects.order_by("id").values_list("pk", flat=True)[:2])
    model_name = ModelRun.objects.get(pk=runs[0]).model_name
    return [
        "/",
        "/cases/?scope=all",
        f"/cases/{case.pk}/",
        f"/cases/{case.pk}/edit/",
        "/cases/review/",
        "/cases/import/",
        "/runs/",
        "/runs/new/",
        f"/runs/{runs[0]}/",
        f"/runs/{runs[0]}/report/",
        f"/runs/compare/?a={runs[0]}&b={runs[1]}",
        "/leaderboard/",
        "/models/",
        f"/models/{model_name}/",
        "/evaluators/",
        "/versions/",
        "/connections/",
        "/accounts/tokens/",
        "/audit/",
        "/admin/cases/testcase/",
        "/api/docs/",
    ]


def test_main_pages_fit_1280_px_and_carry_the_menu(
    seeded, session_context, admin_user, live_server
):
    context = session_context(admin_user)
    page = context.new_page()
    page.set_viewport_size({"width": WIDTH, "height": 900})
    too_wide, no_menu = [], []
    for path in main_pages():
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > WIDTH:
            too_wide.append((path, width))
        if not path.startswith("/admin/"):
            menu = page.locator(".topbar nav").inner_text()
            if not all(item in menu for item in ("Cases", "Runs", "Tokens", "Audit", "API")):
                no_menu.append((path, menu))
    context.close()
    assert not too_wide, too_wide
    assert not no_menu, no_menu
