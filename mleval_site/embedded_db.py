"""The embedded PostgreSQL used when no DATABASE_URL is given.

`pgserver` ships PostgreSQL binaries inside a wheel, so a fresh machine with only Python can run
mleval. The server listens on a Unix socket inside its data directory and keeps running between
commands, so `runserver`, the task worker and `manage.py` calls all share it.

Run as a module to wrap a command with a throwaway server (used by `make test` and `make bench`):
    python -m mleval_site.embedded_db --throwaway -- pytest
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = BASE_DIR / ".mleval" / "pgdata"


def start(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """Start (or reuse) the server whose data lives in `data_dir`; return its socket directory."""
    import warnings

    # pgserver asks platformdirs for a runtime dir it does not need; keep the console quiet.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported late: only needed when no DATABASE_URL is set

    data_dir.mkdir(parents=True, exist_ok=True)
    pgserver.get_server(data_dir, cleanup_mode=None)
    return data_dir


def database_url(socket_dir: Path) -> str:
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/postgres"


def _pg_ctl(data_dir: Path, *args: str) -> None:
    """pg_ctl on the server, as the user pgserver runs it as (`pgserver` when we are root).

    pgserver's own cleanup stops a server only from the last process holding a handle on it,
    which is never the case for a server another command started: hence pg_ctl directly.
    """
    from pgserver._commands import pg_ctl

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", *args], pgdata=data_dir, user=user, timeout=60)


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop the server (fast: open sessions are cut) if it is running."""
    if (data_dir / "postmaster.pid").exists():
        _pg_ctl(data_dir, "stop")


def restart(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop and start the server with the options it was started with (fault tests)."""
    _pg_ctl(data_dir, "restart")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throwaway", action="store_true", help="use a temporary server")
    parser.add_argument("--stop", action="store_true", help="stop the server under .mleval/")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run")
    args = parser.parse_args()
    if args.stop:
        stop()
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    if os.environ.get("DATABASE_URL") or not args.throwaway:
        return subprocess.call(command)
    data_dir = Path(tempfile.mkdtemp(prefix="mleval-pg-"))
    try:
        env = {**os.environ, "DATABASE_URL": database_url(start(data_dir))}
        print(f"throwaway embedded PostgreSQL at {data_dir}", file=sys.stderr)
        return subprocess.call(command, env=env)
    finally:
        stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
