"""What /system/ reads besides other apps' tables: heartbeats, request counters, snapshots."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet):
    def alive(self) -> "WorkerHeartbeatQuerySet":
        """Workers whose last heartbeat is younger than MLEVAL_WORKER_STALE_SECONDS."""
        cutoff = timezone.now() - timedelta(seconds=settings.MLEVAL_WORKER_STALE_SECONDS)
        return self.filter(seen_at__gte=cutoff)


class WorkerHeartbeat(models.Model):
    """One row per task worker process, rewritten every MLEVAL_WORKER_HEARTBEAT_SECONDS."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class RequestCounter(models.Model):
    """Requests and server errors (5xx) per minute, upserted by the request-log middleware."""

    minute = models.DateTimeField(primary_key=True)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.requests} requests"


class SystemHealthMetric(models.Model):
    """A minute's snapshot of the health figures, kept METRIC_RETENTION_DAYS for the charts."""

    taken_at = models.DateTimeField(unique=True)
    database_bytes = models.BigIntegerField()
    queued = models.PositiveIntegerField()
    running = models.PositiveIntegerField()
    failed_last_hour = models.PositiveIntegerField()
    oldest_queued_seconds = models.FloatField(null=True)
    workers_alive = models.PositiveIntegerField()
    requests_last_hour = models.PositiveIntegerField()
    errors_last_hour = models.PositiveIntegerField()

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"health at {self.taken_at:%Y-%m-%d %H:%M}"
