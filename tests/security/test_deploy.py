"""Production mode: `manage.py check --deploy` has nothing to say, and the cookies are secure."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "MLEVAL_TESTING": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "mleval.example.com",
}


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="") + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{db['USER']}@{host}/{db['NAME']}"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **PRODUCTION, "DATABASE_URL": _database_url(), **env}
    environment.pop("DJANGO_SETTINGS_MODULE", None)  # the real settings, not the tests'
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_check_deploy_reports_nothing():
    out = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


@pytest.mark.django_db
def test_production_settings_are_strict():
    script = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, bool(s.SECURE_CSP), s.DEBUG)"
    )
    out = _manage("shell", "-c", script)
    assert out.stdout.splitlines()[-1].split() == ["True"] * 6 + ["False"], out.stderr


@pytest.mark.django_db
def test_without_secret_key_start_up_stops_with_a_clear_message():
    out = _manage("check", SECRET_KEY="")
    assert out.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in out.stderr
