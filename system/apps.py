from django.apps import AppConfig


class SystemConfig(AppConfig):
    """System health: worker heartbeats, request counters and minute snapshots, for admins.

    Its own app (not accounts/) because it reads every other app's tables and the task queue:
    it depends on all of them and none of them may import it.
    """

    name = "system"
    default_auto_field = "django.db.models.BigAutoField"
