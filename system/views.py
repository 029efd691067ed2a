"""/system/: the health page for admins, and the same figures as JSON for monitoring."""

from datetime import timedelta

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import JsonResponse
from django.utils import timezone
from django.views.generic import TemplateView

from system.health import collect, sparkline
from system.models import SystemHealthMetric

CHART_HOURS = 24
CHARTS = (
    ("queued", "Queued tasks"),
    ("workers_alive", "Workers alive"),
    ("requests_last_hour", "Requests in the last hour"),
    ("errors_last_hour", "Server errors in the last hour"),
    ("database_bytes", "Database size (bytes)"),
)


def charts(hours: int = CHART_HOURS) -> list[dict]:
    """One sparkline per figure over the last `hours` of minute snapshots, oldest first."""
    since = timezone.now() - timedelta(hours=hours)
    fields = [name for name, _ in CHARTS]
    rows = list(
        SystemHealthMetric.objects.filter(taken_at__gte=since)
        .order_by("taken_at")
        .values_list(*fields)
    )
    return [
        {
            "name": name,
            "title": title,
            "points": sparkline([row[index] for row in rows]),
            "latest": rows[-1][index] if rows else None,
            "peak": max((row[index] for row in rows), default=None),
        }
        for index, (name, title) in enumerate(CHARTS)
    ]


class SystemView(PermissionRequiredMixin, TemplateView):
    """Admins only (the view permission of SystemHealthMetric: only the admin role has it)."""

    permission_required = "system.view_systemhealthmetric"
    template_name = "system/system.html"

    def get(self, request, *args, **kwargs):
        health = collect()
        if request.GET.get("format") == "json":
            return JsonResponse(health.as_json())
        return self.render_to_response(
            self.get_context_data(health=health, charts=charts(), hours=CHART_HOURS)
        )
