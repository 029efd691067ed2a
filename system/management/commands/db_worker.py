"""`manage.py db_worker`: django-tasks-db's worker, plus a heartbeat for /system/ and /healthz.

Found before django-tasks-db's command because `system` comes first in INSTALLED_APPS.
"""

import os

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as WorkerCommand

from system import heartbeat


class Command(WorkerCommand):
    help = "Run a database background worker that writes a heartbeat (see /system/)"

    def handle(self, *args, **options) -> None:
        reloading = options.get("reload") and not options.get("batch")
        # Under the autoreloader only the child runs tasks; the watching parent must not beat.
        if not reloading or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            heartbeat.start(options["worker_id"])
        super().handle(*args, **options)
