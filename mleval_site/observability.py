"""Structured logs: one JSON line per request and per background task, on stdout.

Each line carries who, what, how long and how many queries, so a slow page or a chatty task
shows up in any log pipeline without a profiler.
"""

import json
import logging
import time

from django.db import connections
from django.tasks.signals import task_finished, task_started

from system.counters import count_request

request_log = logging.getLogger("mleval.requests")
task_log = logging.getLogger("mleval.tasks")


class QueryCounter:
    """A database execute wrapper that counts the statements run through it."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name}
        line.update(getattr(record, "fields", None) or {"message": record.getMessage()})
        return json.dumps(line, default=str)


class RequestLogMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        counter = QueryCounter()
        start = time.perf_counter()
        with connections["default"].execute_wrapper(counter):
            response = self.get_response(request)
        count_request(response.status_code)  # the per-minute counters behind /system/
        user = getattr(request, "user", None)
        request_log.info(
            "request",
            extra={
                "fields": {
                    "event": "request",
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "user": user.get_username() if user and user.is_authenticated else None,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                    "queries": counter.count,
                }
            },
        )
        return response


_task_starts: dict[str, float] = {}


def _log_task_started(sender, task_result, **kwargs) -> None:
    _task_starts[task_result.id] = time.perf_counter()
    task_log.info(
        "task started",
        extra={"fields": {"event": "task_started", "task": task_result.task.name,
                          "task_id": task_result.id}},
    )  # fmt: skip


def _log_task_finished(sender, task_result, **kwargs) -> None:
    started = _task_starts.pop(task_result.id, None)
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    task_log.info(
        "task finished",
        extra={
            "fields": {
                "event": "task_finished",
                "task": task_result.task.name,
                "task_id": task_result.id,
                "status": str(task_result.status),
                "duration_ms": duration,
            }
        },
    )


task_started.connect(_log_task_started, dispatch_uid="mleval.task_started")
task_finished.connect(_log_task_finished, dispatch_uid="mleval.task_finished")
