"""Read replica routing: report queries read from DATABASE_REPLICA_URL when one is configured.

Only code that opts in (`with reading_from_replica():`, used by the reports) reads from the
replica, so a page never reads its own writes from a lagging copy.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

REPLICA = "replica"
_use_replica: ContextVar[bool] = ContextVar("use_replica", default=False)


@contextmanager
def reading_from_replica() -> Iterator[str]:
    """Route the reads inside this block to the replica (or default when there is none).

    Also a decorator. The ORM follows it through the router; raw SQL asks `read_alias()`.
    """
    token = _use_replica.set(True)
    try:
        yield read_alias()
    finally:
        _use_replica.reset(token)


def read_alias() -> str:
    """The database alias reads use here: the replica inside `reading_from_replica()`, when one
    is configured; else default. For raw SQL, which no router sees."""
    if _use_replica.get() and REPLICA in settings.DATABASES:
        return REPLICA
    return "default"


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        return REPLICA if read_alias() == REPLICA else None

    def db_for_write(self, model, **hints) -> str:
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == "default"
