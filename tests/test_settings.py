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


class TestLocalEnvFile:
    """The first `make run` writes .env, so `manage.py` works in the checkout; production still
    needs SECRET_KEY in its environment."""

    def test_written_once_with_a_generated_key(self, tmp_path):
        from mleval_site.dotenv import write_if_missing

        path = tmp_path / ".env"
        assert write_if_missing(path) is True
        text = path.read_text()
        assert "DEBUG=true" in text
        key = next(line for line in text.splitlines() if line.startswith("SECRET_KEY="))
        assert len(key) > 60 and oct(path.stat().st_mode)[-3:] == "600"
        assert write_if_missing(path) is False and path.read_text() == text
        other = tmp_path / "other.env"
        write_if_missing(other)
        assert other.read_text() != text  # a key per checkout

    def test_settings_start_with_the_file_and_not_without(self, tmp_path):
        path = tmp_path / ".env"
        missing = start(MLEVAL_ENV_FILE=str(path), SECRET_KEY="")
        env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        without = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()"],
            env={
                **{k: v for k, v in env.items() if k not in {"MLEVAL_TESTING", "DEBUG"}},
                "MLEVAL_ENV_FILE": str(path),
                "DJANGO_SETTINGS_MODULE": "mleval_site.settings",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert without.returncode != 0 and "SECRET_KEY is required" in without.stderr
        assert missing.returncode != 0
        subprocess.run(
            [sys.executable, "-m", "mleval_site.dotenv", "--path", str(path)],
            check=True,
            capture_output=True,
        )
        code = (
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
        )
        with_file = subprocess.run(
            [sys.executable, "-c", code],
            env={
                **{k: v for k, v in env.items() if k not in {"MLEVAL_TESTING", "DEBUG"}},
                "MLEVAL_ENV_FILE": str(path),
                "DJANGO_SETTINGS_MODULE": "mleval_site.settings",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert with_file.returncode == 0, with_file.stderr
        assert with_file.stdout.strip() == "True"
        # production: the environment wins, so DEBUG=false without SECRET_KEY still stops
        production = start(MLEVAL_ENV_FILE=str(tmp_path / "absent.env"), DEBUG="false")
        assert production.returncode != 0 and "SECRET_KEY is required" in production.stderr


@pytest.mark.parametrize(
    ("variables", "bind"),
    [
        ({}, "127.0.0.1:8000"),
        ({"PORT": "8001"}, "127.0.0.1:8001"),
        ({"BIND": "0.0.0.0:9"}, "0.0.0.0:9"),
    ],
)
def test_make_run_listens_where_asked(variables, bind):
    """`PORT=8001 make run` (or BIND=) used to be ignored: runserver 127.0.0.1:8000 always."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in {"PORT", "BIND"}}
    result = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "run"],
        cwd=root,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"runserver {bind}" in result.stdout, result.stdout + result.stderr
    assert "mleval_site.dotenv" in result.stdout
