"""Per-minute request counters, written by the request-log middleware.

No model imports: mleval_site.observability (also the logging formatter, loaded before the apps)
imports this module.
"""

import logging

from django.db import connections
from django.utils import timezone

logger = logging.getLogger("mleval.system")


def count_request(status: int) -> None:
    """Add one request (and one error if 5xx) to this minute's counter: a single upsert.

    Sent through the driver's cursor, beside Django's query log, so a page's query budget (the
    request log's `queries`, the tests' query counts) measures the page, not this bookkeeping.
    Never fails the request: a database that is down is /healthz's business.
    """
    minute = timezone.now().replace(second=0, microsecond=0)
    try:
        default = connections["default"]
        default.ensure_connection()
        with default.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO system_requestcounter (minute, requests, errors) VALUES (%s, 1, %s) "
                "ON CONFLICT (minute) DO UPDATE SET "
                "requests = system_requestcounter.requests + 1, "
                "errors = system_requestcounter.errors + EXCLUDED.errors",
                [minute, int(status >= 500)],
            )
    except Exception:  # noqa: BLE001 - counting must never turn a served page into an error
        logger.debug("request counter not written", exc_info=True)
