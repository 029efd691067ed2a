"""Personas and helpers shared by every test (healthchecks' owner / member / outsider idea)."""

import shutil

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.test import Client

from accounts.roles import ADMIN, CURATOR, ENGINEER, VIEWER, sync_roles

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(db):
    """make_user(role) → a user in that role's group (None: an outsider with no role)."""
    sync_roles(django_apps)  # transactional tests flush the groups away

    def make(role: str | None = None, username: str | None = None) -> User:
        name = username or f"{role or 'outsider'}-{User.objects.count() + 1}"
        user = User.objects.create_user(name, f"{name}@example.com", PASSWORD)
        if role:
            user.groups.add(Group.objects.get(name=role))
        if role == ADMIN:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return user

    return make


@pytest.fixture
def viewer(make_user) -> User:
    return make_user(VIEWER, "viewer")


@pytest.fixture
def curator(make_user) -> User:
    return make_user(CURATOR, "curator")


@pytest.fixture
def engineer(make_user) -> User:
    return make_user(ENGINEER, "engineer")


@pytest.fixture
def admin_user(make_user) -> User:
    return make_user(ADMIN, "admin")


@pytest.fixture
def outsider(make_user) -> User:
    return make_user(None, "outsider")


@pytest.fixture
def login():
    """login(user) → a test client logged in as that user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium for Playwright; browser tests skip (and say so) where it is missing."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(path):
        pytest.skip("browser test skipped: /usr/bin/chromium is missing (apt-get install chromium)")
    return path
