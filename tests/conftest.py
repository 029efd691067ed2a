"""Personas and helpers shared by every test (healthchecks' owner / member / outsider idea)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.test import Client

from accounts.roles import ADMIN, CURATOR, ENGINEER, VIEWER, sync_roles
from tests import baker_recipes

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
def make_case(db):
    """make_case(**fields) → a saved TestCase: tests/baker_recipes.py's golden nlp case."""
    return baker_recipes.make_case


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


@pytest.fixture
def run_worker(transactional_db, tmp_path):
    """Start the real task worker, `manage.py db_worker`, as a subprocess on the test database.

    The worker only sees committed rows, hence transactional_db. Same settings as the tests
    (DJANGO_SETTINGS_MODULE=mleval_site.settings_test, DATABASE_URL of the test database: under
    pytest-xdist this process's own, test_<name>_gw0, _gw1, ..., read from the live connection).

    - `run_worker()` starts a long-running worker on every queue, polling every 0.1 s, and
      returns its `subprocess.Popen` (`.log_path`: its output). Kill it as a test needs
      (`proc.send_signal(signal.SIGKILL)`); workers still alive at teardown are killed.
    - `run_worker(batch=True)` runs `db_worker --batch`: processes what is queued, exits, and
      returns the `subprocess.CompletedProcess` (output in `.stdout`).
    - `env={"MLEVAL_RUN_WATCHDOG_SECONDS": "1"}` adds environment variables; `args` more flags.
    """
    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    )
    host = quote(db["HOST"] or "localhost", safe="") + (f":{db['PORT']}" if db.get("PORT") else "")
    base_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{host}/{quote(db['NAME'], safe='')}",
        "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test",
        "MLEVAL_TESTING": "true",
        "DEBUG": "false",
    }
    root = Path(__file__).resolve().parent.parent
    started: list[subprocess.Popen] = []

    def start(*args: str, batch: bool = False, env: dict | None = None, timeout: float = 120):
        command = [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "*",
            "--interval",
            "0.1",
            "--no-startup-delay",
            "--no-reload",
            *(["--batch"] if batch else []),
            *args,
        ]
        environment = {**base_env, **(env or {})}
        if batch:
            return subprocess.run(
                command,
                cwd=root,
                env=environment,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        log_path = tmp_path / f"worker-{len(started) + 1}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                command, cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        proc.log_path = log_path
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
