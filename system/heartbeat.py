"""The task worker's heartbeat: a daemon thread that writes a row every few seconds.

A thread, not the worker loop, so a task that runs for an hour does not make its worker look
dead. Each beat also takes the minute's health snapshot when no worker has taken it yet.
"""

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from system.health import take_snapshot
from system.models import WorkerHeartbeat

logger = logging.getLogger("mleval.system")


def beat(worker_id: str, started_at) -> None:
    """Write (or refresh) this worker's heartbeat row."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": timezone.now()},
        create_defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "seen_at": timezone.now(),
        },
    )


def _loop(worker_id: str, interval: float) -> None:
    started_at = timezone.now()
    while True:
        try:
            close_old_connections()
            beat(worker_id, started_at)
            take_snapshot()
        except Exception:  # noqa: BLE001 - a missed beat must not kill the thread
            logger.warning("worker heartbeat failed", exc_info=True)
        finally:
            connection.close()  # this thread's own connection; nothing held between beats
        time.sleep(interval)


def start(worker_id: str) -> threading.Thread:
    """Start beating for `worker_id` every MLEVAL_WORKER_HEARTBEAT_SECONDS."""
    thread = threading.Thread(
        target=_loop,
        args=(worker_id, settings.MLEVAL_WORKER_HEARTBEAT_SECONDS),
        name="mleval-heartbeat",
        daemon=True,
    )
    thread.start()
    return thread
