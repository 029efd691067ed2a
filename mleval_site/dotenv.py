"""The checkout's local settings file, `.env`, read by the settings (django-environ).

`make run` calls `python -m mleval_site.dotenv` first: when the file is missing it is written
with a generated SECRET_KEY and DEBUG=true, so every `manage.py` command works in that checkout
afterwards (migrate, seed_user_data, ...) without exporting anything. The file is git-ignored
and never overwritten. Variables set in the environment win over the file, so production (which
sets DEBUG=false and its own SECRET_KEY, and has no such file) is unaffected.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PATH = BASE_DIR / ".env"


def env_file() -> Path:
    """The file the settings read: MLEVAL_ENV_FILE, or .env at the checkout's root."""
    return Path(os.environ.get("MLEVAL_ENV_FILE") or DEFAULT_PATH)


def write_if_missing(path: Path) -> bool:
    """Write a development .env at `path` unless one exists; True when written."""
    if path.exists():
        return False
    key = secrets.token_urlsafe(50)
    text = (
        "# Written by `make run` for this checkout only (git-ignored): development settings.\n"
        "# Variables set in the environment win over these lines.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={key}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the key is a secret
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=None, help="default: .env at the root")
    args = parser.parse_args(argv)
    path = args.path or env_file()
    if write_if_missing(path):
        print(f"wrote {path} (DEBUG=true and a generated SECRET_KEY; git-ignored)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
