"""Chromium through Playwright, shared by the browser tests.

`login_page(user)` signs in through the real login form; `session_page(user)` carries a test
client's session cookie, for tests that are about a page rather than about logging in.
"""

import pytest
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from tests.conftest import PASSWORD

# Debian's Chromium as root in a sandbox with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def chromium(chromium_path, monkeypatch):
    # Playwright's sync API runs an event loop. Only for this test: a subprocess a later test of
    # the same process starts (check --deploy) must not inherit it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def login_page(chromium, live_server):
    """login_page(user, timeout_ms) → a page signed in through the login form."""

    def make(user, timeout_ms: int = 15_000):
        tab = chromium.new_page()
        tab.set_default_timeout(timeout_ms)
        tab.goto(f"{live_server.url}/accounts/login/")
        tab.fill("input[name=username]", user.get_username())
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        expect(tab.locator(".topbar .user")).to_contain_text(user.get_username())
        tab.base = live_server.url
        return tab

    return make


@pytest.fixture
def session_context(chromium, live_server):
    """session_context(user) → a browser context carrying that user's session cookie."""

    def make(user):
        client = Client()
        client.force_login(user)
        context = chromium.new_context()
        cookie = client.cookies["sessionid"].value
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
        return context

    return make
