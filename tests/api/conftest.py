"""API clients per persona: each authenticates with its own Bearer token, as a script would."""

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import ApiToken

PERSONAS = ("viewer", "curator", "engineer", "admin_user")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()  # throttling counts live in the cache; one test's requests never limit another's
    yield
    cache.clear()


@pytest.fixture
def api_client():
    """api_client(user) → a test client sending `Authorization: Bearer <a new token of user>`;
    api_client(None) → an anonymous client."""

    def make(user=None) -> Client:
        if user is None:
            return Client()
        _, raw = ApiToken.objects.issue(user, "tests")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


@pytest.fixture
def as_persona(request, api_client):
    """as_persona(name) → an API client for that persona fixture ("anonymous" for none)."""

    def make(name: str) -> Client:
        return api_client(None if name == "anonymous" else request.getfixturevalue(name))

    return make
