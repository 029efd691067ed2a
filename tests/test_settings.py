"""A bad environment stops start-up with one clear message."""

import os
import subprocess
import sys

import pytest


def start(**env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"MLEVAL_TESTING", "DEBUG"}}
    env.update(env_vars, DJANGO_SETTINGS_MODULE="mleval_site.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_in_production():
    result = start(DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "perhaps"), ("CONN_MAX_AGE", "soon"), ("MLEVAL_MAX_UPLOAD_BYTES", "1GB")],
)
def test_bad_values_name_the_variable(name, value):
    result = start(**{"SECRET_KEY": "x" * 50, name: value})
    assert result.returncode != 0
    assert f"Environment variable {name} has a bad value" in result.stderr


def test_database_url_must_be_postgresql():
    result = start(SECRET_KEY="x" * 50, DATABASE_URL="mysql://root@localhost/db")
    assert "DATABASE_URL must point to PostgreSQL" in result.stderr


def test_production_settings_start():
    result = start(SECRET_KEY="x" * 50, DEBUG="false", ALLOWED_HOSTS="mleval.example.com")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("installed", [True, False])
def test_a_redis_cache_needs_the_redis_extra(installed):
    """CACHE_URL=redis://... without the client stops start-up naming the install line."""
    block = "" if installed else "import sys; sys.modules['redis'] = None; "  # as if not installed
    env = {k: v for k, v in os.environ.items() if k not in {"MLEVAL_TESTING", "DEBUG"}}
    env.update(
        SECRET_KEY="x" * 50,
        CACHE_URL="redis://127.0.0.1:6379/1",
        DJANGO_SETTINGS_MODULE="mleval_site.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", f"{block}import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if installed:  # the test extra installs it; start-up does not connect
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "pip install 'mleval[redis]'" in result.stderr
