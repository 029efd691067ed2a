"""Throttling: one budget per API token, answered with 429 in the one error format."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from accounts.models import ApiToken

URL = "/api/v1/cases/"


@pytest.fixture
def three_per_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/minute"},
    }


def test_each_token_has_its_own_budget(viewer, three_per_minute):
    first = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.objects.issue(viewer, 'a')[1]}")
    second = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.objects.issue(viewer, 'b')[1]}")
    assert [first.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get(URL)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert set(refused.json()) == {"detail", "errors"}
    assert "throttled" in refused.json()["detail"].lower()
    assert second.get(URL).status_code == 200  # another token, another budget


def test_session_requests_are_throttled_per_user(viewer, login, three_per_minute):
    client = login(viewer)
    assert [client.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_bad_rate_stops_start_up_with_a_clear_message():
    env = {k: v for k, v in os.environ.items() if k not in {"MLEVAL_TESTING", "DEBUG"}}
    env.update(
        SECRET_KEY="x" * 50,
        MLEVAL_API_THROTTLE_RATE="lots",
        DJANGO_SETTINGS_MODULE="mleval_site.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "MLEVAL_API_THROTTLE_RATE has a bad value 'lots'" in result.stderr
