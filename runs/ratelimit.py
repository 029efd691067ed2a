"""A run's `rate_limit`, held across every executor of the run (threads, processes, machines).

The state is one row per run in PostgreSQL (RunRateLimit): the time of the next free request
slot. Reserving a slot is one atomic upsert that moves the row on by the rate's interval and
answers how long to wait for the slot reserved, so requests are spaced evenly at the rate, in
any window of one period never more than N, whatever the number of executors.
"""

from __future__ import annotations

import threading

import psycopg
from django.db import connections

from runs.endpoint_config import RateLimit

RESERVE_SQL = """
INSERT INTO run_rate_limits (run_id, next_at)
VALUES (%(run)s, clock_timestamp() + make_interval(secs => %(interval)s))
ON CONFLICT (run_id) DO UPDATE
SET next_at = greatest(run_rate_limits.next_at, clock_timestamp())
              + make_interval(secs => %(interval)s)
RETURNING extract(epoch FROM next_at - clock_timestamp())::float8 - %(interval)s
"""


class RateLimiter:
    """Reserves request slots for one run; `reserve()` → seconds to wait before the request.

    It has its own database connection (callers make requests from their own threads), used
    under a lock; `close()` it when the run's calls are over.
    """

    # The upsert (a subclass keeps its slots elsewhere: the LLM judge's, per judge).
    reserve_sql = RESERVE_SQL

    def __init__(self, run_id: int | str, limit: RateLimit, using: str = "default") -> None:
        self.run_id = run_id
        self.limit = limit
        self.using = using
        self.lock = threading.Lock()
        self.connection: psycopg.Connection | None = None

    def reserve(self) -> float:
        with self.lock:
            if self.connection is None or self.connection.closed:
                params = connections[self.using].get_connection_params()
                self.connection = psycopg.connect(**params, autocommit=True)
            try:
                row = self.connection.execute(
                    self.reserve_sql, {"run": self.run_id, "interval": self.limit.interval}
                ).fetchone()
            except psycopg.errors.ForeignKeyViolation:
                return 0.0  # the run was deleted; the executor notices at its next write
        return max(float(row[0]), 0.0)

    def close(self) -> None:
        with self.lock:
            if self.connection is not None:
                self.connection.close()
                self.connection = None
