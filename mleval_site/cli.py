"""What the long management commands share: reading a path or stdin, and showing progress
(a tqdm bar on a TTY, plain lines otherwise)."""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from django.core.management.base import CommandError
from tqdm import tqdm

PLAIN_EVERY_SECONDS = 5.0


class ProgressReporter:
    """Fed `update(rows, done)`; draws `done` (bytes, or another unit) against the total."""

    def __init__(
        self,
        total_bytes: int | None,
        *,
        stream: TextIO | None = None,
        label: str = "",
        unit: str = "B",
    ):
        self.stream = stream or sys.stderr
        self.total = total_bytes
        self.label = label
        self.rows = 0
        self.last_plain = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            self.bar = tqdm(
                total=total_bytes,
                unit=unit,
                unit_scale=True,
                unit_divisor=1024 if unit == "B" else 1000,
                desc=label,
                file=self.stream,
                dynamic_ncols=True,
            )

    def update(self, rows: int, bytes_done: int) -> None:
        self.rows = rows
        if self.bar is not None:
            self.bar.update(bytes_done - self.bar.n)
            self.bar.set_postfix_str(f"{rows:,} rows", refresh=False)
            return
        now = time.monotonic()
        if now - self.last_plain >= PLAIN_EVERY_SECONDS:
            self.last_plain = now
            share = f" ({bytes_done * 100 // self.total}%)" if self.total else ""
            print(f"{self.label} {rows:,} rows{share}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def open_input(path: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """(binary stream, size in bytes or None) for a file path, or stdin for `-`.

    An unreadable path is a CommandError naming it; the file is closed afterwards.
    """
    if path == "-":
        yield sys.stdin.buffer, None
        return
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
    with stream:
        yield stream, Path(path).stat().st_size
