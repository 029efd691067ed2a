"""The health figures, computed in SQL: one place for the page, its JSON and the snapshots."""

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Min, Q, Sum
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from system.models import RequestCounter, SystemHealthMetric, WorkerHeartbeat

logger = logging.getLogger("mleval.system")

# The tables that grow with use; counted from the planner's estimate above EXACT_COUNT_LIMIT.
BIG_TABLES = (
    "cases.TestCase",
    "runs.ModelRun",
    "runs.Response",
    "runs.RunCase",
    "evaluations.Evaluation",
    "versions.VersionCase",
    "accounts.AuditEvent",
    "jobs.Job",
    "django_tasks_database.DBTaskResult",
    "system.SystemHealthMetric",
)
EXACT_COUNT_LIMIT = 100_000
METRIC_RETENTION_DAYS = 30
COUNTER_RETENTION_DAYS = 2


@dataclass
class TableCount:
    table: str
    rows: int
    estimated: bool  # True: pg_class.reltuples, shown as "about"


@dataclass
class Health:
    taken_at: datetime
    database: str  # "embedded" or "external"
    database_bytes: int
    tables: list[TableCount]
    queued: int
    running: int
    failed_last_hour: int
    oldest_queued_seconds: float | None
    workers: list[dict] = field(default_factory=list)
    workers_alive: int = 0
    requests_last_hour: int = 0
    errors_last_hour: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors_last_hour / self.requests_last_hour if self.requests_last_hour else None

    def as_json(self) -> dict:
        return {**asdict(self), "error_rate": self.error_rate}


def database_kind() -> str:
    """'embedded': the bundled server under .mleval/ (no DATABASE_URL); else 'external'."""
    from mleval_site.embedded_db import DEFAULT_DATA_DIR

    host = connections["default"].settings_dict.get("HOST") or ""
    return "embedded" if host and Path(host) == DEFAULT_DATA_DIR else "external"


def table_counts() -> list[TableCount]:
    """Row counts: the planner's estimate for big tables (one query), COUNT(*) for small ones."""
    models = [apps.get_model(label) for label in BIG_TABLES]
    names = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class "
            "WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace "
            "AND relname = ANY(%s)",
            [names],
        )
        estimates = dict(cursor.fetchall())
    counts = []
    for model, name in zip(models, names, strict=True):
        estimate = estimates.get(name, -1)
        if 0 <= EXACT_COUNT_LIMIT < estimate:
            counts.append(TableCount(name, estimate, estimated=True))
        else:  # small or never analysed (reltuples = -1): exact is cheap
            counts.append(TableCount(name, model._base_manager.count(), estimated=False))
    return counts


def queue_figures(now: datetime) -> dict:
    """The task queue from django-tasks-db's table, in one aggregate."""
    figures = DBTaskResult.objects.aggregate(
        queued=Count("id", filter=Q(status=TaskResultStatus.READY)),
        running=Count("id", filter=Q(status=TaskResultStatus.RUNNING)),
        failed_last_hour=Count(
            "id",
            filter=Q(status=TaskResultStatus.FAILED, finished_at__gte=now - timedelta(hours=1)),
        ),
        oldest_queued=Min("enqueued_at", filter=Q(status=TaskResultStatus.READY)),
    )
    oldest = figures.pop("oldest_queued")
    figures["oldest_queued_seconds"] = (now - oldest).total_seconds() if oldest else None
    return figures


def collect() -> Health:
    """Every figure of the health page, now."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        (database_bytes,) = cursor.fetchone()
    stale = now - timedelta(seconds=settings.MLEVAL_WORKER_STALE_SECONDS)
    workers = [
        {
            "worker_id": beat.worker_id,
            "hostname": beat.hostname,
            "pid": beat.pid,
            "started_at": beat.started_at,
            "seen_at": beat.seen_at,
            "age_seconds": round((now - beat.seen_at).total_seconds(), 1),
            "alive": beat.seen_at >= stale,
        }
        for beat in WorkerHeartbeat.objects.filter(seen_at__gte=now - timedelta(days=1))
    ]
    traffic = RequestCounter.objects.filter(minute__gte=now - timedelta(hours=1)).aggregate(
        requests=Sum("requests", default=0), errors=Sum("errors", default=0)
    )
    return Health(
        taken_at=now,
        database=database_kind(),
        database_bytes=database_bytes,
        tables=table_counts(),
        **queue_figures(now),
        workers=workers,
        workers_alive=sum(worker["alive"] for worker in workers),
        requests_last_hour=traffic["requests"],
        errors_last_hour=traffic["errors"],
    )


def take_snapshot() -> bool:
    """Store this minute's snapshot unless another worker already did; prune old rows.

    Returns whether a snapshot was written. The unique minute makes concurrent workers safe.
    """
    minute = timezone.now().replace(second=0, microsecond=0)
    if SystemHealthMetric.objects.filter(taken_at=minute).exists():
        return False
    health = collect()
    created = SystemHealthMetric.objects.bulk_create(
        [
            SystemHealthMetric(
                taken_at=minute,
                database_bytes=health.database_bytes,
                queued=health.queued,
                running=health.running,
                failed_last_hour=health.failed_last_hour,
                oldest_queued_seconds=health.oldest_queued_seconds,
                workers_alive=health.workers_alive,
                requests_last_hour=health.requests_last_hour,
                errors_last_hour=health.errors_last_hour,
            )
        ],
        ignore_conflicts=True,
    )
    SystemHealthMetric.objects.filter(
        taken_at__lt=minute - timedelta(days=METRIC_RETENTION_DAYS)
    ).delete()
    RequestCounter.objects.filter(
        minute__lt=minute - timedelta(days=COUNTER_RETENTION_DAYS)
    ).delete()
    WorkerHeartbeat.objects.filter(
        seen_at__lt=minute - timedelta(days=COUNTER_RETENTION_DAYS)
    ).delete()
    return bool(created)


def sparkline(values: list[float | None], width: int = 320, height: int = 60) -> str:
    """SVG polyline points for values oldest first, scaled to the box (gaps dropped)."""
    known = [(index, value) for index, value in enumerate(values) if value is not None]
    if not known:
        return ""
    top = max(value for _, value in known) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{index * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
        for index, value in known
    )
