import functools

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import connection
from django.db.models import Count, Q
from django.http import JsonResponse
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

from cases.models import AWAITING_REVIEW, GOLDEN, TestCase
from runs.models import ModelRun
from runs.views import TRUST_MARK
from system.models import WorkerHeartbeat


@login_not_required
@require_safe
def healthz(request):
    """Load balancers' probe: 200 when the database answers, 503 when it does not.

    With MLEVAL_EXPECT_WORKER also 503 when no task worker has a heartbeat younger than
    MLEVAL_WORKER_STALE_SECONDS: queued work would wait forever.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy", whatever its class
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    if settings.MLEVAL_EXPECT_WORKER:
        if not WorkerHeartbeat.objects.alive().exists():
            return JsonResponse(
                {"status": "error", "database": "ok", "worker": "stale"}, status=503
            )
        return JsonResponse({"status": "ok", "database": "ok", "worker": "ok"})
    return JsonResponse({"status": "ok", "database": "ok"})


class DashboardView(PermissionRequiredMixin, TemplateView):
    template_name = "dashboard.html"
    permission_required = "cases.view_testcase"

    def get_context_data(self, **kwargs):
        cases = TestCase.objects.all()
        return super().get_context_data(
            totals=cases.aggregate(
                total=Count("id"),
                golden=Count("id", filter=GOLDEN),
                awaiting_review=Count("id", filter=AWAITING_REVIEW),
            ),
            by_domain=cases.values("model_type")
            .annotate(
                total=Count("id"),
                golden=Count("id", filter=GOLDEN),
                human=Count("id", filter=Q(origin=TestCase.Origin.HUMAN)),
                ai_generated=Count("id", filter=Q(origin=TestCase.Origin.AI_GENERATED)),
                unverified=Count("id", filter=Q(is_verified=False)),
            )
            .order_by("model_type"),
            latest_runs=ModelRun.objects.with_headline().order_by("-created_at", "-id")[:10],
            trust_mark=TRUST_MARK,
            **kwargs,
        )


@functools.cache
def public_schema() -> dict:
    """The OpenAPI document as /api/schema/ serves it (SERVE_PUBLIC: the same for everyone)."""
    return SchemaGenerator().get_schema(request=None, public=True)


class SchemaView(SpectacularAPIView):
    """/api/schema/: the public schema depends only on the code, so each process generates it
    once (0.3 s a request otherwise, 1.2 s the first). `?version=` still generates afresh."""

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        if version is not None:
            return super()._get_schema_response(request)
        filename = self._get_filename(request, version)
        return Response(
            data=public_schema(), headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )
