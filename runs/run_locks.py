"""Who is on a run: the advisory locks its executors hold, and a run's start and finish.

Each executor takes a fresh key from the `run_executor_keys` sequence and holds a PostgreSQL
advisory lock on it for as long as it lives (its claims are alive while the lock is held), plus
a shared lock on the run. The last executor to leave gets the run's lock exclusively, checks
that nothing is left and completes the run. Stopping a run (`stop`) cancels it and waits until
no executor holds it. The work itself (claiming, calling, writing) is runs.execution's.
"""

import logging
import time
from dataclasses import dataclass

from django.db import connection

from runs.models import ModelRun

logger = logging.getLogger("mleval.runs")

# Advisory-lock namespaces (the first int of pg_advisory_lock(int, int)).
EXECUTOR_LOCKS = 0x6D6C6578  # "mlex": one per live executor, keyed by its executor key
RUN_LOCKS = 0x6D6C7275  # "mlru": shared by a run's executors, exclusive to finish it
STOP_WAIT_SECONDS = 5.0

# Cases of the run left to call: no response, the case still exists.
REMAINING_SQL = """
SELECT EXISTS (
    SELECT 1 FROM run_cases AS rc JOIN test_cases AS t ON t.id = rc.test_case_id
    WHERE rc.run_id = %s AND NOT EXISTS (
        SELECT 1 FROM responses AS r
        WHERE r.run_id = rc.run_id AND r.test_case_id = rc.test_case_id
    )
)
"""


# Times are statement_timestamp(), like Django's Now(): now() would be the start of a
# surrounding transaction (seed_user_data executes its runs inside one).
START_SQL = """
UPDATE model_runs
SET status = 'running', started_at = coalesce(started_at, statement_timestamp()),
    completed_at = NULL,
    heartbeat_at = statement_timestamp(),
    rate_since = CASE WHEN status = 'running' THEN rate_since ELSE statement_timestamp() END,
    rate_base = CASE WHEN status = 'running' THEN rate_base
                     ELSE completed_cases + failed_cases END
WHERE id = %s AND status = ANY(%s)
RETURNING status
"""

FINISH_SQL = """
UPDATE model_runs
SET status = CASE WHEN completed_cases = 0 AND failed_cases > 0 THEN 'failed' ELSE 'completed' END,
    completed_at = statement_timestamp(), heartbeat_at = statement_timestamp()
WHERE id = %s AND status = 'running'
"""


def run_lock_key(run_id: int) -> int:
    """The run's advisory-lock key (an int4)."""
    return run_id & 0x7FFFFFFF


def executor_alive(run_id: int) -> bool:
    """Whether some executor holds the run (its shared lock); false for a dead one's run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCKS, run_lock_key(run_id)])
        if cursor.fetchone()[0]:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCKS, run_lock_key(run_id)])
            return False
    return True


def wait_until_stopped(run_id: int, timeout: float = 5.0) -> bool:
    """After a cancel: wait until no executor is on the run (true), or give up (false)."""
    deadline = time.monotonic() + timeout
    while executor_alive(run_id):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(run: ModelRun) -> bool:
    """Cancel the run if it is active and wait for its executors to let go. True when none is
    left on it, so nothing more is written into it: the run page and the API delete a run only
    then (false: still stopping, try again in a moment). A run cancelled a moment ago may still
    have an executor finishing its call, hence the wait whatever the status."""
    if run.is_active:
        run.cancel()
    return wait_until_stopped(run.pk, timeout=STOP_WAIT_SECONDS)


@dataclass
class RunSeat:
    """One executor's place on a run: its key and locks (see the module docstring)."""

    run_id: int
    key: int = 0
    holding_run: bool = False

    def take(self) -> None:
        """Take a fresh executor key, lock it for this executor's life and share the run."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('run_executor_keys')")
            self.key = cursor.fetchone()[0]
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s), pg_advisory_lock_shared(%s, %s)",
                [EXECUTOR_LOCKS, self.key, RUN_LOCKS, run_lock_key(self.run_id)],
            )
        self.holding_run = True

    def start(self, statuses: tuple[str, ...]) -> bool:
        """Mark the run running if its status is one of `statuses`; False: leave it alone."""
        with connection.cursor() as cursor:
            cursor.execute(START_SQL, [self.run_id, list(statuses)])
            return cursor.fetchone() is not None

    def try_finish(self) -> bool:
        """Leave the run; the last executor out completes it. False: work is left, go on."""
        key = run_lock_key(self.run_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)", [RUN_LOCKS, key])
            self.holding_run = False
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCKS, key])
            if not cursor.fetchone()[0]:
                return True  # another executor is still on the run; it will finish it
            try:
                cursor.execute(REMAINING_SQL, [self.run_id])
                if cursor.fetchone()[0]:  # claims of an executor that died meanwhile
                    cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", [RUN_LOCKS, key])
                    self.holding_run = True
                    return False
                cursor.execute(FINISH_SQL, [self.run_id])
                return True
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCKS, key])

    def leave(self, *, failed: bool) -> None:
        """Release this executor's locks; after an error, fail the run if nobody else is on it."""
        key = run_lock_key(self.run_id)
        try:
            with connection.cursor() as cursor:
                if self.holding_run:
                    cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)", [RUN_LOCKS, key])
                    self.holding_run = False
                if failed:
                    cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCKS, key])
                    if cursor.fetchone()[0]:
                        cursor.execute(
                            "UPDATE model_runs SET status = 'failed', "
                            "completed_at = statement_timestamp() "
                            "WHERE id = %s AND status = 'running'",
                            [self.run_id],
                        )
                        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCKS, key])
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [EXECUTOR_LOCKS, self.key])
        except Exception as error:  # the connection may be what failed; its locks die with it
            logger.warning(
                "run %s: could not release the executor's locks (%s); they end with the connection",
                self.run_id,
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
            )
