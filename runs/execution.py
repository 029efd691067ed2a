"""Executing a run: call its endpoint for every case of the run that has no response yet.

So a second call resumes, and several executors (worker processes, or a worker and the CLI) can
share one run without calling a case twice:

- Each executor takes a fresh key from the `run_executor_keys` sequence and holds a PostgreSQL
  advisory lock on it for as long as it lives, plus a shared lock on the run (runs/run_locks.py).
- It claims cases in chunks (`UPDATE run_cases SET claimed_by = key ... FOR UPDATE SKIP LOCKED`),
  skipping cases that have a response and cases claimed by an executor whose lock is still held.
  An executor that dies (SIGKILL, lost machine) loses its connection, so PostgreSQL drops its
  locks and its claims are free again, with no timeout to tune.
- Results are written in batches, `INSERT ... ON CONFLICT DO NOTHING`, and the run's counts move
  by exactly the rows inserted, in the same statement. The same statement reads the run's
  status, so a cancel is seen within FLUSH_SECONDS.
- The last executor to leave (it gets the run's lock exclusively) checks that nothing is left
  and completes the run.

The calls themselves are the callers' (runs/callers.py: one class per endpoint kind).
"""

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DataError, OperationalError, connection, transaction

from runs.callers import Caller, Claimed, ExecutionOptions, Outcome, open_caller
from runs.models import ModelRun, Response, RunStatus
from runs.run_locks import EXECUTOR_LOCKS, RunSeat

logger = logging.getLogger("mleval.runs")

FLUSH_SECONDS = 0.5  # results are written (and cancel noticed) at least this often
FLUSH_ROWS = 1000


@dataclass(frozen=True)
class ExecutionSummary:
    run_id: int
    status: str
    completed_cases: int
    failed_cases: int
    total_cases: int
    called: int  # cases this executor stored a response for


CLAIM_SQL = """
WITH live AS (  -- the keys of executors alive now: their advisory locks are held
    SELECT ARRAY(
        SELECT objid::bigint FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND classid = %(namespace)s AND objsubid = 2
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    ) AS keys
), picked AS (
    -- a run on a version calls the version's input: the kept revision when the case was
    -- edited since the freeze (%(version)s is null for other runs: no such row)
    SELECT rc.test_case_id,
           (CASE WHEN kr.id IS NULL THEN t.input_data ELSE kr.input_data END)::text AS input_json,
           CASE WHEN kr.id IS NULL THEN t.input_type ELSE kr.input_type END AS input_type,
           CASE WHEN kr.id IS NULL THEN t.output_type ELSE kr.output_type END AS output_type
    FROM run_cases AS rc
    CROSS JOIN live
    JOIN test_cases AS t ON t.id = rc.test_case_id
    LEFT JOIN version_cases AS vc ON vc.version_id = %(version)s AND vc.case_id = rc.test_case_id
    LEFT JOIN case_revisions AS kr ON kr.case_id = vc.case_id AND kr.revision = vc.revision
    WHERE rc.run_id = %(run)s AND rc.test_case_id > %(after)s
      AND (rc.claimed_by IS NULL OR rc.claimed_by::bigint <> ALL(live.keys))
      AND NOT EXISTS (
          SELECT 1 FROM responses AS r
          WHERE r.run_id = rc.run_id AND r.test_case_id = rc.test_case_id
      )
    ORDER BY rc.test_case_id
    LIMIT %(limit)s
    FOR UPDATE OF rc SKIP LOCKED
)
UPDATE run_cases AS rc SET claimed_by = %(key)s
FROM picked
WHERE rc.run_id = %(run)s AND rc.test_case_id = picked.test_case_id
RETURNING picked.test_case_id, picked.input_json, picked.input_type, picked.output_type
"""

FLUSH_SQL = """
WITH written AS (
    INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, memory_mb,
                           tokens_used, error_message, created_at)
    SELECT %(run)s, u.test_case_id, u.output::jsonb, u.latency_ms, u.memory_mb, u.tokens_used,
           u.error_message, statement_timestamp()
    FROM unnest(%(ids)s::bigint[], %(outputs)s::text[], %(latencies)s::float8[],
                %(memories)s::float8[], %(tokens)s::integer[], %(errors)s::text[])
         AS u(test_case_id, output, latency_ms, memory_mb, tokens_used, error_message)
    ORDER BY u.test_case_id
    ON CONFLICT (run_id, test_case_id) DO NOTHING
    RETURNING error_message
)
UPDATE model_runs
SET completed_cases = completed_cases + (SELECT count(*) FROM written WHERE error_message = ''),
    failed_cases = failed_cases + (SELECT count(*) FROM written WHERE error_message <> ''),
    heartbeat_at = statement_timestamp()
WHERE id = %(run)s
RETURNING status, completed_cases, failed_cases, total_cases, (SELECT count(*) FROM written)
"""

RUN_DELETED = "deleted"


class _RunDeleted(Exception):
    pass


@dataclass
class Executor:
    """One executor over one run; see the module docstring for how executors share a run."""

    run: ModelRun
    options: ExecutionOptions = field(default_factory=ExecutionOptions)
    progress: Callable[[int, int, int], None] | None = None  # (completed, failed, total)
    start_from: tuple[str, ...] = tuple(RunStatus.values)
    called: int = 0
    _seat: RunSeat | None = None
    _after: int = 0
    _wrapped: bool = False
    _progressed: bool = False  # the last pass stored at least one response

    def execute(self) -> ExecutionSummary:
        caller = open_caller(self.run, self.options)  # refuses a bad endpoint before any change
        self._seat = seat = RunSeat(self.run.pk)
        seat.take()
        try:
            try:
                if seat.start(self.start_from):
                    caller.start()
                    idle = 0
                    while self._loop(caller) and not seat.try_finish():
                        # Work is left: one more pass from the first case. Claims of an
                        # executor that is leaving free up in a moment.
                        self._after, self._wrapped = 0, False
                        idle = idle + 1 if not self._progressed else 0
                        time.sleep(min(0.1 * idle, 2.0))
            finally:
                caller.close(cancel=True)
        except BaseException:
            seat.leave(failed=True)
            raise
        else:
            seat.leave(failed=False)
        try:
            self.run.refresh_from_db()
        except ModelRun.DoesNotExist:
            return ExecutionSummary(self.run.pk, RUN_DELETED, 0, 0, 0, self.called)
        return ExecutionSummary(
            self.run.pk,
            self.run.status,
            self.run.completed_cases,
            self.run.failed_cases,
            self.run.total_cases,
            self.called,
        )

    # the pipeline

    def _claim(self, limit: int) -> list[Claimed]:
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    CLAIM_SQL,
                    {
                        "namespace": EXECUTOR_LOCKS,
                        "run": self.run.pk,
                        "version": self.run.version_id,
                        "after": self._after,
                        "limit": limit,
                        "key": self._seat.key,
                    },
                )
                rows = cursor.fetchall()
            if rows:
                claimed = sorted((Claimed(*row) for row in rows), key=lambda c: c.test_case_id)
                self._after = claimed[-1].test_case_id
                return claimed
            if self._wrapped or self._after == 0:
                return []
            # One more pass from the start: cases skipped while another executor held them.
            self._after, self._wrapped = 0, True

    def _loop(self, caller: Caller) -> bool:
        """Call every claimable case; True when none is left, False when the run was stopped."""
        concurrency, per_call = self.options.concurrency, caller.batch_size
        # Claims are whole batches. In flight: two calls per connection plus a claim for
        # one-case calls; one batch per connection plus a claim for batching kinds (big).
        chunk = per_call * -(-max(2 * concurrency, 32) // per_call)
        target = (2 if per_call == 1 else 1) * concurrency * per_call + chunk
        in_flight, exhausted = 0, False
        self._progressed = False
        pending: list[Outcome] = []
        last_flush = time.monotonic()
        while True:
            while not exhausted and in_flight < target:
                claimed = self._claim(chunk)
                if not claimed:
                    exhausted = True
                    break
                caller.submit(claimed)
                in_flight += len(claimed)
            if exhausted and not in_flight and not pending:
                return True
            deadline = last_flush + FLUSH_SECONDS
            while in_flight and len(pending) < FLUSH_ROWS:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    pending.append(caller.results.get(timeout=wait))
                except queue.Empty:
                    break
                in_flight -= 1
                while in_flight and len(pending) < FLUSH_ROWS:
                    try:
                        pending.append(caller.results.get_nowait())
                    except queue.Empty:
                        break
                    in_flight -= 1
                if not exhausted and in_flight < target - chunk:
                    break  # refill the pipeline first
            now = time.monotonic()
            if now >= deadline or len(pending) >= FLUSH_ROWS or not in_flight:
                status = self._flush(pending)
                pending, last_flush = [], now
                if status != RunStatus.RUNNING:
                    return False

    def _flush(self, outcomes: list[Outcome]) -> str:
        """Store the outcomes, move the counts, beat the heartbeat; return the run's status."""
        outcomes = sorted(outcomes, key=lambda o: o.test_case_id)
        for attempt in range(3):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(FLUSH_SQL, self._arrays(outcomes))
                    row = cursor.fetchone()
                    if row is None:
                        raise _RunDeleted
                    status, completed, failed, total, written = row
                break
            except _RunDeleted:  # deleted under us: drop what was written, stop
                return RUN_DELETED
            except DataError:  # a value PostgreSQL refuses: store that case as failed instead
                if attempt == 2:
                    raise
                outcomes = [self._storable_outcome(o) for o in outcomes]
            except OperationalError as error:  # e.g. a deadlock with a concurrent import
                if attempt == 2:
                    raise
                logger.warning("run %s: retrying a write after %s", self.run.pk, error)
                time.sleep(0.1 * (attempt + 1))
        self.called += written
        self._progressed = self._progressed or written > 0
        if self.progress:
            self.progress(completed, failed, total)
        return status

    def _arrays(self, outcomes: list[Outcome]) -> dict:
        return {
            "run": self.run.pk,
            "ids": [o.test_case_id for o in outcomes],
            "outputs": [o.output_json for o in outcomes],
            "latencies": [o.latency_ms for o in outcomes],
            "memories": [o.memory_mb for o in outcomes],
            "tokens": [o.tokens_used for o in outcomes],
            "errors": [o.error_message for o in outcomes],
        }

    @staticmethod
    def _storable_outcome(outcome: Outcome) -> Outcome:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT %s::jsonb", [outcome.output_json])
            return outcome
        except DataError as error:
            return Outcome(
                outcome.test_case_id,
                latency_ms=outcome.latency_ms,
                error_message=f"the answer could not be stored: {error}".strip()[:2000],
            )


def execute_run(
    run: ModelRun,
    options: ExecutionOptions | None = None,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    resume_finished: bool = True,
) -> ExecutionSummary:
    """Call the run's endpoint for every case without a response; blocks until done or stopped.

    `resume_finished=False` (the background task) leaves a run alone that was cancelled or
    finished while the task waited in the queue. Raises ExecutionError for a run that cannot
    be executed at all; the run is then unchanged.
    """
    start_from = (
        tuple(RunStatus.values) if resume_finished else (RunStatus.PENDING, RunStatus.RUNNING)
    )
    executor = Executor(
        run, options or ExecutionOptions(), progress=progress, start_from=start_from
    )
    return executor.execute()


def forget_failures(run: ModelRun) -> int:
    """Delete the run's failed responses (their evaluations go too), so executing calls them
    again. The counts follow: the response-delete trigger recounts the run."""
    _, deleted = Response.objects.filter(run=run).exclude(error_message="").delete()
    run.refresh_from_db()
    return deleted.get(Response._meta.label, 0)
